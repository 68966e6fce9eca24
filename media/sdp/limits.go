package sdp

import (
	"bytes"
	"errors"
)

// Limits bound an SDP body before it is parsed; a zero or negative field
// leaves its dimension unbounded.
type Limits struct {
	// Size is the largest body, in bytes.
	Size int
	// Media is the largest number of media descriptions (m= lines).
	Media int
	// Attributes is the largest number of a= lines in the session part or
	// in any one media description.
	Attributes int
}

// ErrTooLarge is returned by Check for a body over one of its Limits.
var ErrTooLarge = errors.New("sdp: body over the limits")

// Check reports whether body stays within l, reading it line by line
// without allocating: it runs on untrusted input before the parser, which
// allocates per line and per attribute.
func Check(body []byte, l Limits) error {
	if l.Size > 0 && len(body) > l.Size {
		return ErrTooLarge
	}
	media, attrs := 0, 0
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		switch line[0] {
		case 'm':
			media, attrs = media+1, 0
			if l.Media > 0 && media > l.Media {
				return ErrTooLarge
			}
		case 'a':
			if attrs++; l.Attributes > 0 && attrs > l.Attributes {
				return ErrTooLarge
			}
		}
	}
	return nil
}
