// Package console is the operators' console: the HTML pages of the
// operators' port (everything but /v1/, /healthz and /metrics, which
// web serves and mounts this handler beside), their logins and sessions,
// and the actions taken from them. It sees helen through web.Backend,
// the API's, so that a page does what the API does and no second way.
package console
