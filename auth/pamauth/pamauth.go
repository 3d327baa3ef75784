// Package pamauth checks HTTP Basic passwords through PAM
// (github.com/msteinert/pam/v2, cgo, libpam) for mgmtd/auth. It is a
// subpackage so that only binaries that want PAM need cgo and libpam; it
// imports mgmtd/auth and nothing else of ours.
//
// mgmtd ships its own PAM service file (pam.d/mgmtd) because distribution
// defaults differ. PAM modules may block (LDAP, SSSD), so calls run in a
// bounded pool and the caller's context bounds the wait.
package pamauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/msteinert/pam/v2"

	"mgmtd/auth"
)

// DefaultService is the PAM service name mgmtd uses.
const DefaultService = "mgmtd"

// Checker is an [auth.PasswordChecker] backed by PAM. It is safe for
// concurrent use.
type Checker struct {
	service string
	confDir string
	log     *slog.Logger
	slots   chan struct{}
}

// Options configure a Checker.
type Options struct {
	// Service is the PAM service; default DefaultService.
	Service string
	// ConfDir replaces /etc/pam.d (tests); needs pam_start_confdir.
	ConfDir string
	// Workers bounds concurrent PAM conversations; default 4.
	Workers int
	// Logger for PAM errors (never passwords); nil discards.
	Logger *slog.Logger
}

// New returns a Checker.
func New(opts Options) (*Checker, error) {
	if opts.Service == "" {
		opts.Service = DefaultService
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ConfDir != "" && !pam.CheckPamHasStartConfdir() {
		return nil, errors.New("pam: a private configuration directory needs Linux-PAM >= 1.4 (pam_start_confdir)")
	}
	return &Checker{service: opts.Service, confDir: opts.ConfDir, log: opts.Logger, slots: make(chan struct{}, opts.Workers)}, nil
}

// FromConfig returns a Checker for cfg, or nil if PAM is disabled.
func FromConfig(cfg auth.PAMConfig, log *slog.Logger) (*Checker, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	return New(Options{Service: cfg.Service, ConfDir: cfg.ConfDir, Logger: log})
}

// CheckPassword implements [auth.PasswordChecker]: PAM authenticate
// (null passwords refused) and account management. A user PAM does not
// know gives [auth.ErrUnknownUser] (so the service can mask the name,
// which may be a mistyped password); every other failure gives
// [auth.ErrBadCredentials]. The PAM error text is logged and returned as
// detail; the password never is.
func (c *Checker) CheckPassword(ctx context.Context, user, password string) (auth.PasswordResult, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return auth.PasswordResult{}, fmt.Errorf("pam: %w: %v", auth.ErrBadCredentials, ctx.Err())
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-c.slots }()
		done <- c.conversation(user, password)
	}()
	select {
	case err := <-done:
		if errors.Is(err, pam.ErrUserUnknown) {
			return auth.PasswordResult{}, fmt.Errorf("pam: %w: %v", auth.ErrUnknownUser, err)
		}
		if err != nil {
			// The user name is logged by the caller (masked if PAM does
			// not know it); here only PAM's own error text.
			c.log.Info("pam refused", "service", c.service, "err", err)
			return auth.PasswordResult{}, fmt.Errorf("pam: %w: %v", auth.ErrBadCredentials, err)
		}
		return auth.PasswordResult{Method: auth.MethodPAM, Groups: auth.UnixGroups(user)}, nil
	case <-ctx.Done():
		// The conversation goes on in its slot; its result is dropped.
		return auth.PasswordResult{}, fmt.Errorf("pam: %w: %v", auth.ErrBadCredentials, ctx.Err())
	}
}

func (c *Checker) conversation(user, password string) error {
	conv := pam.ConversationFunc(func(style pam.Style, msg string) (string, error) {
		switch style {
		case pam.PromptEchoOff:
			return password, nil
		case pam.PromptEchoOn:
			return user, nil
		case pam.ErrorMsg, pam.TextInfo:
			return "", nil
		}
		return "", errors.New("unsupported PAM conversation style")
	})
	var (
		t   *pam.Transaction
		err error
	)
	if c.confDir != "" {
		t, err = pam.StartConfDir(c.service, user, conv, c.confDir)
	} else {
		t, err = pam.Start(c.service, user, conv)
	}
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer t.End()
	if err := t.Authenticate(pam.DisallowNullAuthtok); err != nil {
		return fmt.Errorf("authenticate: %w", err)
	}
	if err := t.AcctMgmt(pam.Silent); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	return nil
}
