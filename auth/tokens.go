package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// TokenPrefix starts every mgmtd API token, so that bearer tokens can be
// told from OIDC JWTs and secret scanners can find leaked ones.
const TokenPrefix = "mgmtd_"

// DefaultTokenTTL is the lifetime of a token created without one.
const DefaultTokenTTL = 90 * 24 * time.Hour

// MaxTokenTTL is the longest lifetime a token may have.
const MaxTokenTTL = 2 * 365 * 24 * time.Hour

// Token describes an API token. The secret itself is shown once, when
// it is created, and never stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Grants    []Grant   `json:"grants"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// MaxTokenNameLen bounds a token's name in bytes. A name must be valid
// UTF-8 without control characters: it is shown in lists and recorded in
// the audit log.
const MaxTokenNameLen = 200

// TokenSpec asks for a new token.
type TokenSpec struct {
	Name      string        // for people; required
	Grants    []Grant       // what the token may do; at least one
	TTL       time.Duration // 0 for DefaultTokenTTL; at most MaxTokenTTL
	CreatedBy string        // Identity.ID of the creator
}

type tokenRecord struct {
	Token
	Hash string `json:"sha256"` // hex SHA-256 of the whole secret
}

// TokenStore keeps API tokens in a JSON file (mode 0600) holding only the
// SHA-256 of each secret; secrets are 256-bit random, so a fast hash is
// enough. It is safe for concurrent use within one process.
type TokenStore struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	records []tokenRecord
}

// OpenTokenStore loads (or starts) the token file at path; now is the
// clock (nil for time.Now).
func OpenTokenStore(path string, now func() time.Time) (*TokenStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &TokenStore{path: path, now: now}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read token store: %w", err)
	}
	if err := json.Unmarshal(b, &s.records); err != nil {
		return nil, fmt.Errorf("read token store %s: %w", path, err)
	}
	return s, nil
}

// Create makes a new token and returns its secret (shown to the caller
// once) and its description.
func (s *TokenStore) Create(spec TokenSpec) (string, Token, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return "", Token{}, errors.New("create token: name is required")
	}
	if err := checkTokenName(spec.Name); err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	if len(spec.Grants) == 0 {
		return "", Token{}, errors.New("create token: at least one grant is required")
	}
	for _, g := range spec.Grants {
		if !g.Role.Valid() {
			return "", Token{}, fmt.Errorf("create token: unknown role %q", g.Role)
		}
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return "", Token{}, fmt.Errorf("create token: lifetime %s outside (0, %s]", ttl, MaxTokenTTL)
	}
	id := randomHex(8)
	secret := TokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	now := s.now().UTC().Truncate(time.Second)
	t := Token{ID: id, Name: spec.Name, Grants: slices.Clone(spec.Grants), CreatedBy: spec.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(ttl)}

	s.mu.Lock()
	defer s.mu.Unlock()
	records := append(slices.Clone(s.records), tokenRecord{Token: t, Hash: hashSecret(secret)})
	if err := s.save(records); err != nil {
		return "", Token{}, err
	}
	s.records = records
	return secret, t, nil
}

// List returns every token, revoked and expired ones included, oldest
// first.
func (s *TokenStore) List() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Token, len(s.records))
	for i, r := range s.records {
		out[i] = r.Token
	}
	return out
}

// Revoke marks token id revoked; later uses fail with [ErrTokenRevoked].
func (s *TokenStore) Revoke(id string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.records, func(r tokenRecord) bool { return r.ID == id })
	if i < 0 {
		return Token{}, fmt.Errorf("revoke token %q: no such token", id)
	}
	records := slices.Clone(s.records)
	if records[i].RevokedAt.IsZero() {
		records[i].RevokedAt = s.now().UTC().Truncate(time.Second)
	}
	if err := s.save(records); err != nil {
		return Token{}, err
	}
	s.records = records
	return records[i].Token, nil
}

// Verify checks a presented secret and returns its token. Errors wrap
// [ErrBadCredentials], [ErrTokenExpired] or [ErrTokenRevoked] and never
// contain the secret.
func (s *TokenStore) Verify(secret string) (Token, error) {
	id, ok := ParseTokenID(secret)
	if !ok {
		return Token{}, fmt.Errorf("api token: %w: malformed", ErrBadCredentials)
	}
	h := hashSecret(secret)
	s.mu.Lock()
	i := slices.IndexFunc(s.records, func(r tokenRecord) bool { return r.ID == id })
	var r tokenRecord
	if i >= 0 {
		r = s.records[i]
	}
	s.mu.Unlock()
	if i < 0 {
		// Compare anyway, so unknown ids take as long as wrong secrets.
		subtle.ConstantTimeCompare([]byte(h), []byte(hashSecret("")))
		return Token{}, fmt.Errorf("api token %s: %w", id, ErrBadCredentials)
	}
	if subtle.ConstantTimeCompare([]byte(h), []byte(r.Hash)) != 1 {
		return Token{}, fmt.Errorf("api token %s: %w", id, ErrBadCredentials)
	}
	if !r.RevokedAt.IsZero() {
		return Token{}, fmt.Errorf("api token %s: %w", id, ErrTokenRevoked)
	}
	if !s.now().Before(r.ExpiresAt) {
		return Token{}, fmt.Errorf("api token %s: %w at %s", id, ErrTokenExpired, r.ExpiresAt.Format(time.RFC3339))
	}
	return r.Token, nil
}

// ParseTokenID returns the id part of an API token secret
// ("mgmtd_<16 hex>_<43 base64url>") and whether the secret is well formed.
// The id is not secret; the rest is.
func ParseTokenID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, TokenPrefix)
	if !ok {
		return "", false
	}
	id, key, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(key) != 43 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(key); err != nil || len(b) != 32 {
		return "", false
	}
	return id, true
}

func (s *TokenStore) save(records []tokenRecord) error {
	b, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		return fmt.Errorf("save token store: %w", err)
	}
	return writeFileAtomic(s.path, append(b, '\n'), 0o600)
}

func checkTokenName(name string) error {
	switch {
	case len(name) > MaxTokenNameLen:
		return fmt.Errorf("name is longer than %d bytes", MaxTokenNameLen)
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("name contains a control character")
	}
	return nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error (it panics instead).
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomString(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n)) }

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
