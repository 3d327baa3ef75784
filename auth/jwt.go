package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// jwtPeek is what [PeekJWT] reads from a JWT without verifying it.
type jwtPeek struct {
	Alg    string // header "alg"
	KeyID  string // header "kid"
	Issuer string // payload "iss"
	Signed bool   // the signature part is not empty
}

// maxJWTSize bounds the bearer tokens we look at.
const maxJWTSize = 16 << 10

// PeekJWT reads the header and issuer of a compact JWS without checking
// the signature. It is used only to give a clear error before the real
// verification (alg "none", missing signature, wrong issuer); nothing it
// returns is trusted. Errors wrap [ErrMalformedToken] and never contain
// the token.
func PeekJWT(raw string) (jwtPeek, error) {
	var p jwtPeek
	if len(raw) > maxJWTSize {
		return p, fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken, maxJWTSize)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return p, fmt.Errorf("%w: want 3 dot-separated parts, have %d", ErrMalformedToken, len(parts))
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return p, fmt.Errorf("%w: header: %v", ErrMalformedToken, err)
	}
	var claims struct {
		Iss any `json:"iss"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return p, fmt.Errorf("%w: payload: %v", ErrMalformedToken, err)
	}
	iss, _ := claims.Iss.(string)
	p = jwtPeek{Alg: hdr.Alg, KeyID: hdr.Kid, Issuer: iss, Signed: parts[2] != ""}
	return p, nil
}

// decodeSegment decodes one base64url JSON segment. Its errors describe
// the failure without echoing the input.
func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return fmt.Errorf("not base64url")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not a JSON object")
	}
	return nil
}
