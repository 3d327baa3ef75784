//go:build cgo

package mgmtd

import (
	"log/slog"

	"mgmtd/auth"
	"mgmtd/auth/pamauth"
)

// pamChecker is the PAM password checker when auth.pam is enabled, nil
// when it is not. PAM needs cgo and libpam: a static build (CGO_ENABLED=0,
// the container image) has pam_nocgo.go instead.
func pamChecker(cfg auth.PAMConfig, log *slog.Logger) (auth.PasswordChecker, error) {
	pam, err := pamauth.FromConfig(cfg, log)
	if err != nil || pam == nil {
		return nil, err
	}
	return pam, nil
}
