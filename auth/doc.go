// Package auth decides who is calling mgmtd and what they may do. It is
// shared by every front-end that accepts requests (REST, CIM, the web page
// and the local command line) so that all of them authenticate and
// authorize the same way.
//
// It holds:
//   - transport security: a self-signed certificate generated on first
//     start, a certificate that reloads on SIGHUP, optional client
//     certificates (mTLS), and a guard against plain HTTP off loopback;
//   - authenticators tried in one fixed order by [Service.Authenticate]:
//     bearer tokens (mgmtd API tokens, then OIDC ID tokens), the browser
//     session cookie set by the OIDC login, HTTP Basic checked by a
//     [PasswordChecker] (the built-in user store, then PAM through
//     mgmtd/auth/pamauth), TLS client certificates and unix socket peer
//     credentials. The first authenticator that recognises a credential
//     decides; a credential that is present but wrong is never passed on
//     to the next one;
//   - the roles viewer, operator, admin and auditor, bound to identities by
//     configuration and optionally scoped to a cluster, node, resource, VM
//     or service, and the one policy function [Authorize] (plus [Filter]
//     for reads);
//   - brute-force protection ([Limiter]) and hand-off of every
//     authentication outcome and every denial to a [Recorder], which the
//     wiring adapts to the audit log.
//
// auth imports no other mgmtd package; front-ends and the wiring import
// it. Secrets (passwords, tokens, cookies) never appear in errors, log
// lines or audit events produced here.
package auth
