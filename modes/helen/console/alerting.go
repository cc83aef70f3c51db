package console

import (
	"net/url"
	"slices"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// statusLines returns sts with what silences and acknowledgements say of
// each line. The silences are matched once an agent: the list may have
// 50,000 lines and state.MaxSilences may be in force.
func (s *Console) statusLines(sts []monitor.StatusView, now time.Time) ([]statusLine, error) {
	active, err := s.activeSilences(now)
	if err != nil {
		return nil, err
	}
	acks, err := s.store.Acks()
	if err != nil {
		return nil, err
	}
	byPair := make(map[[2]string]*state.Ack, len(acks))
	for i, a := range acks {
		byPair[[2]string{a.Agent, a.Schedule}] = &acks[i]
	}
	byAgent := map[string][]int{}
	out := make([]statusLine, len(sts))
	for n, st := range sts {
		l := statusLine{StatusView: st}
		ss, ok := byAgent[st.Agent]
		if !ok {
			for i, sl := range active {
				if monitor.Covers(state.Silence{Agents: sl.Agents}, st.Agent, "") {
					ss = append(ss, i)
				}
			}
			byAgent[st.Agent] = ss
		}
		for _, i := range ss {
			sl := &active[i]
			switch {
			case !monitor.Covers(*sl, st.Agent, st.Schedule):
			case l.Silence == nil:
				l.Silence = sl
			default:
				l.MoreSilences++
				if sl.End.After(l.Silence.End) {
					l.Silence = sl
				}
			}
		}
		l.Ack = byPair[[2]string{st.Agent, st.Schedule}]
		out[n] = l
	}
	return out, nil
}

// activeSilences returns the silences in force at now, ending first.
func (s *Console) activeSilences(now time.Time) ([]state.Silence, error) {
	all, err := s.store.Silences()
	if err != nil {
		return nil, err
	}
	var out []state.Silence
	for _, sl := range all {
		if sl.Active(now) {
			out = append(out, sl)
		}
	}
	slices.SortStableFunc(out, func(a, b state.Silence) int { return a.End.Compare(b.End) })
	return out, nil
}

// pathEscape escapes a name for a path segment of a link.
func pathEscape(s string) string { return url.PathEscape(s) }
