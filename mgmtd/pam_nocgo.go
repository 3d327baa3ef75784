//go:build !cgo

package mgmtd

import (
	"errors"
	"log/slog"

	"mgmtd/auth"
)

// errNoPAM refuses auth.pam in a build without cgo: a configured login
// method that silently does nothing would lock people out without a word.
var errNoPAM = errors.New("auth.pam: this mgmtd was built without cgo and has no PAM (the static build of the container image); use tokens, OIDC or client certificates, or the Debian package's build")

// pamChecker refuses an enabled PAM: this build has none.
func pamChecker(cfg auth.PAMConfig, _ *slog.Logger) (auth.PasswordChecker, error) {
	if cfg.Enabled {
		return nil, errNoPAM
	}
	return nil, nil
}
