package cim

import (
	"bytes"
	"encoding/xml"
	"io"
)

// wellFormed reports whether b is one well-formed XML document.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
