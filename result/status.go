package result

// Status is the outcome of a check.
type Status string

// The statuses, in the order of their Nagios exit codes.
const (
	OK       Status = "ok"
	Warning  Status = "warning"
	Critical Status = "critical"
	Unknown  Status = "unknown"
)

// Code returns the Nagios plugin exit code of s: 0 ok, 1 warning,
// 2 critical, and 3 for unknown and for anything that is not a status.
func (s Status) Code() int {
	switch s {
	case OK:
		return 0
	case Warning:
		return 1
	case Critical:
		return 2
	}
	return 3
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool {
	switch s {
	case OK, Warning, Critical, Unknown:
		return true
	}
	return false
}

// Severity ranks s from best to worst: 0 ok, 1 unknown, 2 warning,
// 3 critical, and 1 for anything that is not a status, as Code takes it for
// unknown. A check that saw both a warning and an unknown reports the
// warning, a known problem, as monitoring-plugins' max_state_alt orders
// them.
func (s Status) Severity() int {
	switch s {
	case OK:
		return 0
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 1
}

// FromCode returns the status of a Nagios plugin exit code; any code but
// 0, 1 and 2 is Unknown.
func FromCode(code int) Status {
	switch code {
	case 0:
		return OK
	case 1:
		return Warning
	case 2:
		return Critical
	}
	return Unknown
}

// label is the status as Nagios plugins print it.
func (s Status) label() string {
	switch s {
	case OK:
		return "OK"
	case Warning:
		return "WARNING"
	case Critical:
		return "CRITICAL"
	}
	return "UNKNOWN"
}
