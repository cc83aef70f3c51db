// Package notify holds the receivers of notifications: what helen tells
// people when a status changes, and the ways it can reach them (a webhook,
// Alertmanager, email, a program). A receiver sends one notification and
// says what the other side answered, and whether a failure is worth a
// retry; queueing, retries and the record of attempts are the caller's.
//
// The notification document, the receivers' headers and environment
// variables and every bound are described in docs/NOTIFICATIONS.md, which
// TestNotificationDoc holds to the Notification type.
package notify
