package console

import (
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/equus-monitoring/equus/modes/helen/monitor"
	"github.com/equus-monitoring/equus/state"
)

// The overview, at /: the counts by status, then the status list in
// pages: the problems not yet handled first (critical, warning, unknown),
// then those silenced or acknowledged, then the agents down (one line
// each, its schedules folded), then the rest. The filter is in the query
// string, so that a view can be shared: agent (a glob), schedule (a
// glob), status (ok, warning, critical, unknown, or problem for all
// three), q (text in the agent's, schedule's or check's name or the
// message), page (from 1) and per (lines a page, at most maxPer).

const (
	defaultPer = 100
	maxPer     = 500
	// maxLongOutput is the most bytes of a long output a line shows, so
	// that maxPer lines make a page of a few MiB at most.
	maxLongOutput = 4 << 10
	// maxFilter is the most bytes of a filter's value.
	maxFilter = 256
)

// filter is the overview's query.
type filter struct {
	Agent, Schedule, Status, Text string
	Page, Per                     int
}

// parseFilter reads v, or says what is wrong with it.
func parseFilter(v url.Values) (filter, string) {
	f := filter{Agent: v.Get("agent"), Schedule: v.Get("schedule"), Status: v.Get("status"), Text: v.Get("q"), Page: 1, Per: defaultPer}
	for _, s := range []string{f.Agent, f.Schedule, f.Status, f.Text} {
		if len(s) > maxFilter {
			return filter{Page: 1, Per: defaultPer}, "A filter is at most 256 bytes."
		}
	}
	for _, g := range []string{f.Agent, f.Schedule} {
		if _, err := path.Match(g, ""); err != nil {
			return filter{Page: 1, Per: defaultPer}, "Not a glob: " + g
		}
	}
	switch f.Status {
	case "", "ok", "warning", "critical", "unknown", "problem":
	default:
		return filter{Page: 1, Per: defaultPer}, "A status is ok, warning, critical, unknown or problem."
	}
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return filter{Page: 1, Per: defaultPer}, "A page is a number from 1."
		}
		f.Page = n
	}
	if p := v.Get("per"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > maxPer {
			return filter{Page: 1, Per: defaultPer}, "Per is 1 to 500 lines a page."
		}
		f.Per = n
	}
	return f, ""
}

// query returns f as a query string with page p.
func (f filter) query(p int) string {
	v := url.Values{}
	for k, s := range map[string]string{"agent": f.Agent, "schedule": f.Schedule, "status": f.Status, "q": f.Text} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if p > 1 {
		v.Set("page", strconv.Itoa(p))
	}
	if f.Per != defaultPer {
		v.Set("per", strconv.Itoa(f.Per))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// lineRef is a line of the overview: annotated already, or a view
// annotated if on the page.
type lineRef struct {
	line *statusLine
	view *monitor.StatusView
}

func (f filter) matches(l *monitor.StatusView) bool {
	st := &l.Status
	if f.Agent != "" {
		if ok, _ := path.Match(f.Agent, st.Agent); !ok {
			return false
		}
	}
	if f.Schedule != "" {
		if ok, _ := path.Match(f.Schedule, st.Schedule); !ok || l.Kind == monitor.KindAgentDown {
			return false
		}
	}
	switch f.Status {
	case "":
	case "problem":
		if st.Status == "ok" {
			return false
		}
	default:
		if st.Status != f.Status {
			return false
		}
	}
	if f.Text != "" {
		t := f.Text
		if !containsFold(st.Agent, t) && !containsFold(st.Schedule, t) && !containsFold(st.Check, t) && !containsFold(st.Message, t) {
			return false
		}
	}
	return true
}

// containsFold reports whether sub is in s, whatever the case, without
// the copies strings.ToLower makes of each line of a large fleet.
func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return n == 0
}

// statusLine is a line of the status list with what alerting makes of
// it: the silence in force over it, if any (the one ending last, and how
// many others), and its acknowledgement.
type statusLine struct {
	monitor.StatusView
	Silence      *state.Silence
	MoreSilences int
	Ack          *state.Ack
	Spark        template.HTML // its main metric's sparkline, on the agent's page
}

// Problem reports whether the line is a problem, which is soft or hard.
func (l statusLine) Problem() bool {
	return l.Kind != monitor.KindAgentDown && l.StateType != "" && l.Status.Status != "ok"
}

// Handled reports whether someone has seen to the line's problem.
func (l statusLine) Handled() bool { return l.Silence != nil || l.Ack != nil }

type overviewPage struct {
	frame
	Filter            filter
	Agents, Connected int
	Counts            map[string]int // lines by status, and agent_down
	Lines             []statusLine
	Matching          int // lines the filter keeps
	Pages             int
	Prev, Next        string // the other pages' links, "" for none
	Statuses          []string
}

func (s *Console) overview(w http.ResponseWriter, r *http.Request, v viewer) {
	page := overviewPage{frame: s.frame(v, "Overview", "overview", ""), Counts: map[string]int{},
		Statuses: []string{"problem", "critical", "warning", "unknown", "ok"}}
	f, bad := parseFilter(r.URL.Query())
	page.Filter, page.Error = f, bad
	agents, err := s.store.Agents()
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "agents", err)
		return
	}
	page.Agents = len(agents)
	for _, a := range agents {
		if a.Connected {
			page.Connected++
		}
	}
	// The lines are 50,000 in a large fleet: each is read once to count
	// and filter it, the problems alone are matched with the silences
	// and acknowledgements to place them, and the rest when on the page.
	sts := s.backend.Statuses(false)
	var problems []monitor.StatusView
	var down, rest []int
	for i := range sts {
		st := &sts[i]
		page.Counts[st.Status.Status]++
		if st.Kind == monitor.KindAgentDown {
			page.Counts[monitor.KindAgentDown]++
		}
		switch {
		case !f.matches(st):
		case st.Kind == monitor.KindAgentDown:
			down = append(down, i)
		case st.Status.Status == "ok":
			rest = append(rest, i)
		default:
			problems = append(problems, *st)
		}
	}
	annotated, err := s.statusLines(problems, page.Now)
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "alerting", err)
		return
	}
	// Worst first within each group, as the backend orders them.
	kept := make([]lineRef, 0, len(problems)+len(down)+len(rest))
	for i := range annotated {
		if !annotated[i].Handled() {
			kept = append(kept, lineRef{line: &annotated[i]})
		}
	}
	for i := range annotated {
		if annotated[i].Handled() {
			kept = append(kept, lineRef{line: &annotated[i]})
		}
	}
	for _, i := range down {
		kept = append(kept, lineRef{view: &sts[i]})
	}
	for _, i := range rest {
		kept = append(kept, lineRef{view: &sts[i]})
	}
	page.Matching = len(kept)
	page.Pages = max(1, (len(kept)+f.Per-1)/f.Per)
	from := min(len(kept), (f.Page-1)*f.Per)
	var views []monitor.StatusView
	for _, ref := range kept[from:min(len(kept), from+f.Per)] {
		if ref.line != nil {
			page.Lines = append(page.Lines, *ref.line)
		} else {
			views = append(views, *ref.view)
		}
	}
	more, err := s.statusLines(views, page.Now)
	if err != nil {
		s.fail(w, v, http.StatusInternalServerError, "alerting", err)
		return
	}
	page.Lines = append(page.Lines, more...)
	if f.Page > 1 {
		page.Prev = f.query(min(f.Page-1, page.Pages))
	}
	if f.Page < page.Pages {
		page.Next = f.query(f.Page + 1)
	}
	code := http.StatusOK
	if bad != "" {
		code = http.StatusBadRequest
	}
	s.render(w, code, "overview", page)
}

// longOutput is a long output as the pages show it: its first
// maxLongOutput bytes, saying where the rest is.
func longOutput(s string) string {
	if len(s) <= maxLongOutput {
		return s
	}
	cut := maxLongOutput
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "\n… (cut: equus helen history --long and /v1/status show it all)"
}
