package audit

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Anchor is a signed checkpoint of an instance's chain head: it proves that
// at Time the record Seq of Instance had hash Hash. Anchors are kept in the
// store and written out where the database administrator cannot rewrite them
// (an anchor file, syslog); only they reveal a deleted tail or a rewrite
// with recomputed hashes.
type Anchor struct {
	Instance  string
	Seq       uint64
	Hash      [32]byte
	Time      time.Time // microseconds, UTC
	KeyID     string    // KeyID(PublicKey)
	PublicKey ed25519.PublicKey
	Signature []byte // Ed25519 over SignedMessage()
}

const anchorMagic = "mgmtd-audit-anchor-v1\x00"

// SignedMessage returns the bytes the anchor's signature covers: a version
// tag, the length-prefixed instance, sequence, hash and time in
// microseconds.
func (a *Anchor) SignedMessage() []byte {
	b := append([]byte(anchorMagic), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(anchorMagic):], uint32(len(a.Instance)))
	b = append(b, a.Instance...)
	b = binary.BigEndian.AppendUint64(b, a.Seq)
	b = append(b, a.Hash[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(a.Time.UnixMicro()))
}

// Check verifies the anchor's signature with its own public key and, when
// trusted is not empty, that the key is one of trusted.
func (a *Anchor) Check(trusted []ed25519.PublicKey) error {
	if len(a.PublicKey) != ed25519.PublicKeySize {
		return fmt.Errorf("anchor %s/%d: bad public key length %d", a.Instance, a.Seq, len(a.PublicKey))
	}
	if a.KeyID != KeyID(a.PublicKey) {
		return fmt.Errorf("anchor %s/%d: key id %q does not match its public key", a.Instance, a.Seq, a.KeyID)
	}
	if len(trusted) > 0 {
		ok := false
		for _, k := range trusted {
			ok = ok || k.Equal(a.PublicKey)
		}
		if !ok {
			return fmt.Errorf("anchor %s/%d: signed by untrusted key %s", a.Instance, a.Seq, a.KeyID)
		}
	}
	if !ed25519.Verify(a.PublicKey, a.SignedMessage(), a.Signature) {
		return fmt.Errorf("anchor %s/%d: bad signature", a.Instance, a.Seq)
	}
	return nil
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// SignAnchor returns a signed anchor for head at time t.
func SignAnchor(key ed25519.PrivateKey, instance string, seq uint64, hash [32]byte, t time.Time) Anchor {
	pub := key.Public().(ed25519.PublicKey)
	a := Anchor{Instance: instance, Seq: seq, Hash: hash, Time: t.UTC().Truncate(time.Microsecond),
		KeyID: KeyID(pub), PublicKey: pub}
	a.Signature = ed25519.Sign(key, a.SignedMessage())
	return a
}

// LoadOrCreateKey reads an Ed25519 private key (PEM "PRIVATE KEY", PKCS #8)
// from path, creating one with mode 0600 if the file does not exist.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("generate anchor key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(key)
		if merr != nil {
			return nil, fmt.Errorf("marshal anchor key: %w", merr)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create anchor key dir: %w", err)
		}
		f, oerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if oerr != nil {
			return nil, fmt.Errorf("create anchor key: %w", oerr)
		}
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, fmt.Errorf("write anchor key: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync anchor key: %w", err)
		}
		return key, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read anchor key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("anchor key %s: no PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("anchor key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("anchor key %s: not an Ed25519 key", path)
	}
	return key, nil
}

// MarshalPublicKey returns pub as a PEM "PUBLIC KEY" (PKIX) block, the form
// [ParsePublicKey] reads; give it to auditors to verify anchors with.
func MarshalPublicKey(pub ed25519.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(fmt.Sprintf("audit: marshal ed25519 public key: %v", err)) // cannot fail for ed25519
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ParsePublicKey reads a PEM "PUBLIC KEY" block holding an Ed25519 key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("parse public key: no PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("parse public key: not an Ed25519 key")
	}
	return pub, nil
}

// ReadAnchors reads an anchor file (JSON Lines, as written by the writer).
// A final line without newline (a torn write) is ignored.
func ReadAnchors(r io.Reader) ([]Anchor, error) {
	var out []Anchor
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			a, perr := ParseAnchorJSONL(line)
			if perr != nil {
				return nil, fmt.Errorf("anchor line %d: %w", n, perr)
			}
			out = append(out, a)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read anchors: %w", err)
		}
	}
}

// ReadAnchorFile reads the anchor file at path; see [ReadAnchors].
func ReadAnchorFile(path string) ([]Anchor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open anchor file: %w", err)
	}
	defer f.Close()
	return ReadAnchors(f)
}

// appendLineFile appends b to the file at path and fsyncs it.
func appendLineFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}
