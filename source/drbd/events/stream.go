package events

import (
	"bytes"
	"errors"
)

// Stream feeds the output of `drbdsetup events2` into a State as it
// arrives, in chunks that need not end at line ends.
type Stream struct {
	State   State
	partial []byte
	line    int
}

// Write applies every complete line of b (and of what earlier calls left
// unfinished) to the State. It returns the first error as a *SyntaxError
// with the line number; the State then holds what the lines
// before it said, and the Stream must not be used further (the caller
// restarts drbdsetup and builds a new one). Blank lines are skipped.
func (s *Stream) Write(b []byte) error {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(s.partial)+len(b) > MaxLine {
				s.line++
				return &SyntaxError{Line: s.line, Msg: "line longer than limit"}
			}
			s.partial = append(s.partial, b...)
			return nil
		}
		line := b[:i]
		if len(s.partial) > 0 {
			line = append(s.partial, line...)
			s.partial = s.partial[:0]
		}
		b = b[i+1:]
		s.line++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		l, err := ParseLine(line)
		if err == nil {
			err = s.State.Apply(l)
		}
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				se.Line = s.line
				return se
			}
			return &SyntaxError{Line: s.line, Msg: err.Error()}
		}
	}
	return nil
}

// Lines returns how many lines the Stream has read.
func (s *Stream) Lines() int { return s.line }
