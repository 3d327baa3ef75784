// Package ui is mgmtd's web page for operators: the cluster at a glance,
// a live map of hosts, VMs, nodes and resources with a detail page for
// each, where a service runs (down to the physical host), what a node or
// host takes with it, and the audit log for auditors. It is static HTML, CSS
// and JavaScript embedded in the binary; the page reads the REST API of the
// same origin with the browser's credentials (the OIDC session cookie, or
// HTTP Basic through the browser's own prompt) and follows the model's
// server-sent events. Every decision about who may see what stays on the
// server: the page only hides what the caller's roles cannot use.
package ui
