package notify

import (
	"errors"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, k := range Kinds {
		if err := Sample(k).Validate(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for name, spoil := range map[string]func(n *Notification){
		"kind":        func(n *Notification) { n.Kind = "page" },
		"no-id":       func(n *Notification) { n.ID = "" },
		"no-delivery": func(n *Notification) { n.Delivery = "" },
		"no-agent":    func(n *Notification) { n.Agent = "" },
		"no-time":     func(n *Notification) { n.Time = time.Time{} },
		"no-status":   func(n *Notification) { n.Status = "" },
		"no-schedule": func(n *Notification) { n.Schedule = "" },
	} {
		t.Run(name, func(t *testing.T) {
			n := Sample(Problem)
			spoil(&n)
			if err := n.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("err %v", err)
			}
		})
	}
	test := Sample(Test)
	test.Agent = ""
	if err := test.Validate(); err != nil {
		t.Errorf("a test without an agent: %v", err)
	}
	ack := Sample(Acknowledgement)
	ack.Schedule, ack.Check, ack.Status = "", "", StatusDown
	if err := ack.Validate(); err != nil {
		t.Errorf("an acknowledgement of an agent down: %v", err)
	}
}

func TestHeadline(t *testing.T) {
	for k, want := range map[Kind]string{
		Problem:         "CRITICAL: disk-root on web-1",
		Recovery:        "RECOVERED: disk-root on web-1 is ok",
		Acknowledgement: "ACKNOWLEDGED: disk-root on web-1 (critical) by alice",
		FlappingStart:   "FLAPPING: disk-root on web-1",
		FlappingEnd:     "FLAPPING ENDED: disk-root on web-1 is ok",
		AgentDown:       "DOWN: web-1",
		AgentUp:         "UP: web-1",
		Test:            "TEST: a test notification",
		SessionStarted:  "SHELL SESSION: alice opened one on web-1",
		SessionEnded:    "SHELL SESSION ENDED: alice's on web-1",
	} {
		if got := Sample(k).Headline(); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}
