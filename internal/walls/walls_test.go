package walls

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/equus-monitoring/equus"

// rule forbids the packages matching from (a path relative to the module,
// with a trailing "/..." for a tree) to import those matching any of
// deny, unless the import matches allow.
type rule struct {
	from  string
	deny  []string
	allow []string
	why   string
}

var rules = []rule{
	{from: "modes/helen/...", deny: []string{"modes/equus/...", "modes/stage0/...", "modes/dev/..."},
		why: "helen does not run an agent: --dev lives in modes/dev"},
	{from: "modes/helen/monitor/...", deny: []string{"modes/helen/..."},
		allow: []string{"modes/helen/monitor/..."},
		why:   "the monitor knows agents only through monitor.Agent and its state through state.Store"},
	{from: "modes/helen/monitor/notify/...", deny: []string{"modes/..."},
		allow: []string{"modes/helen/monitor/notify/..."},
		why:   "the receivers send a notification and say what came back: they know nothing else of helen"},
	{from: "modes/helen/hub/...", deny: []string{"modes/helen/..."},
		allow: []string{"modes/helen/hub/...", "modes/helen/netlimit", "modes/helen/peerlog", "modes/helen/offers"},
		why:   "the hub offers sessions and a Watcher; it knows nothing of monitoring, the web or the CLI"},
	{from: "modes/helen/agentapi/...", deny: []string{"modes/helen/..."},
		allow: []string{"modes/helen/agentapi/...", "modes/helen/offers", "modes/helen/peerlog", "modes/helen/reply"},
		why:   "the agents' endpoints need the store, the CA and what is offered, not the sessions (hub.CertReplaced comes in as an interface)"},
	{from: "modes/helen/web/...", deny: []string{"modes/helen/hub/...", "modes/helen/server/...", "modes/helen/agentapi/...", "modes/helen/console/..."},
		why: "the operators' port sees helen through the interfaces it declares, and serves the console as the http.Handler it is given"},
	{from: "modes/helen/console/...", deny: []string{"modes/helen/..."},
		allow: []string{"modes/helen/console/...", "modes/helen/web", "modes/helen/monitor", "modes/helen/peerlog", "modes/helen/reply"},
		why:   "the console acts through web.Backend, the API's own, and reads the store; it knows no session, no server, no CLI"},
	{from: "modes/helen/offers/...", deny: []string{"modes/..."}, allow: []string{"modes/helen/offers/..."},
		why: "what is offered is files and signatures"},
	{from: "modes/helen/netlimit/...", deny: []string{"modes/..."}, allow: []string{"modes/helen/netlimit/..."},
		why: "connection bounds are plain net.Listener wrappers"},
	{from: "modes/helen/peerlog/...", deny: []string{"modes/..."}, allow: []string{"modes/helen/peerlog/..."},
		why: "the log limiter is a slog handler"},
	{from: "modes/helen/reply/...", deny: []string{"modes/..."}, allow: []string{"modes/helen/reply/..."},
		why: "JSON answers are net/http only"},
	{from: "modes/helen/server/...", deny: []string{"modes/helen"},
		why: "the server does not import the command line that runs it"},
	{from: "modes/equus/...", deny: []string{"modes/helen/...", "modes/stage0/..."}, why: "the agent stands alone"},
	{from: "modes/stage0/...", deny: []string{"modes/helen/..."}, why: "the supervisor knows only the agent"},
	{from: "state/...", deny: []string{"modes/...", "lua/...", "update/...", "pki/..."}, why: "the store knows only its data"},
	{from: "lua/...", deny: []string{"modes/...", "state/...", "update/..."}, why: "the check runtime knows only checks"},
	{from: "update/...", deny: []string{"modes/...", "state/...", "lua/..."}, why: "updates know only releases"},
	{from: "result/...", deny: []string{"modes/...", "state/...", "lua/...", "update/..."}, why: "a result is a document"},
	{from: "semver/...", deny: []string{""}, why: "versions need only the standard library"},
	{from: "internal/alertmanagertest", deny: []string{""}, allow: []string{"internal/wait", "internal/logtest"},
		why: "the tests' Alertmanager is a process and its API, for any package's tests"},
	{from: "internal/svgchart", deny: []string{""},
		why: "a graph is drawn from the numbers it is given: no store, no helen"},
	{from: "internal/smtptest", deny: []string{""},
		why: "the tests' SMTP server is go-smtp on loopback, for any package's tests"},
	{from: "internal/browsertest", deny: []string{""},
		why: "the tests' browser is chromium driven by chromedp, for any package's tests"},
}

// matches reports whether pkg (relative to the module) matches pattern,
// a path or a tree ("dir/..."); the pattern "" matches every package of
// the module.
func matches(pkg, pattern string) bool {
	if pattern == "" {
		return true
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == tree || strings.HasPrefix(pkg, tree+"/")
	}
	return pkg == pattern
}

// imports returns, for every package of the module under root, the
// module's packages that its non-test files import, all relative to the
// module.
func imports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := filepath.ToSlash(rel)
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			if dep, ok := strings.CutPrefix(ip, module+"/"); ok && !slices.Contains(out[pkg], dep) {
				out[pkg] = append(out[pkg], dep)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWalls(t *testing.T) {
	all := imports(t, filepath.Join("..", ".."))
	if len(all) < 20 {
		t.Fatalf("found %d packages: the walk did not start at the module's root", len(all))
	}
	for pkg, deps := range all {
		for _, r := range rules {
			if !matches(pkg, r.from) {
				continue
			}
			for _, dep := range deps {
				denied := slices.ContainsFunc(r.deny, func(p string) bool { return matches(dep, p) })
				allowed := slices.ContainsFunc(r.allow, func(p string) bool { return matches(dep, p) })
				if denied && !allowed && !strings.HasPrefix(dep, "internal/") {
					t.Errorf("%s imports %s: %s", pkg, dep, r.why)
				}
			}
		}
	}
}

// TestWallsCatch checks the rules against imports they must refuse, so
// that a rule that matches nothing does not pass for a wall.
func TestWallsCatch(t *testing.T) {
	for _, tc := range []struct{ pkg, dep string }{
		{"modes/helen/monitor", "modes/helen/hub"},
		{"modes/helen/monitor/notify", "modes/helen/monitor"},
		{"modes/helen", "modes/equus"},
		{"modes/helen/server", "modes/equus"},
		{"modes/helen/hub", "modes/helen/monitor"},
		{"modes/helen/web", "modes/helen/hub"},
		{"modes/helen/web", "modes/helen/console"},
		{"modes/helen/console", "modes/helen/server"},
		{"modes/helen/console", "modes/helen/hub"},
		{"state", "modes/helen"},
		{"semver", "wire"},
		{"internal/smtptest", "pki"},
		{"internal/svgchart", "state"},
	} {
		caught := false
		for _, r := range rules {
			if matches(tc.pkg, r.from) && slices.ContainsFunc(r.deny, func(p string) bool { return matches(tc.dep, p) }) &&
				!slices.ContainsFunc(r.allow, func(p string) bool { return matches(tc.dep, p) }) {
				caught = true
			}
		}
		if !caught {
			t.Errorf("no rule refuses %s importing %s", tc.pkg, tc.dep)
		}
	}
}
