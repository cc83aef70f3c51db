package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
)

// Widths are the viewport widths, in CSS pixels, the console is checked
// at: a small phone and a laptop.
var Widths = []int{360, 1280}

// viewportHeight is the height of the viewport the widths are checked
// with; full-page screenshots show the whole page whatever it is.
const viewportHeight = 800

var artifactName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Screenshot writes a PNG of the whole page of ctx's tab to NAME.png in
// $EQUUS_ARTIFACTS (made if need be) or, without it, in the test's
// temporary directory, and logs where.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if !artifactName.MatchString(name) {
		t.Fatalf("screenshot name %q: letters, digits, '.', '_' and '-' only", name)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// SetWidth makes the tab's viewport width CSS pixels wide, as a desktop
// window of that width (not a mobile one, which could zoom out to fit a
// page wider than the screen and so hide it).
func SetWidth(t testing.TB, ctx context.Context, width int) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), viewportHeight)); err != nil {
		t.Fatalf("viewport %d px: %v", width, err)
	}
}

// Overflow reports by how many CSS pixels the page of ctx's tab is wider
// than its viewport (0 when it is not), at the tab's viewport width, which
// it also returns.
func Overflow(t testing.TB, ctx context.Context) (over, width int) {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Evaluate[struct{ Scroll, Inner int }](
		`({Scroll: document.documentElement.scrollWidth, Inner: window.innerWidth})`))
	if err != nil {
		t.Fatalf("page width: %v", err)
	}
	return max(m.Scroll-m.Inner, 0), m.Inner
}

// NoOverflow fails the test if the page of ctx's tab, shown width CSS
// pixels wide, is wider than that: document.documentElement.scrollWidth
// must not pass window.innerWidth.
func NoOverflow(t testing.TB, ctx context.Context, width int) {
	t.Helper()
	SetWidth(t, ctx, width)
	over, inner := Overflow(t, ctx)
	if inner != width {
		t.Fatalf("viewport %d px wide, asked for %d", inner, width)
	}
	if over > 0 {
		t.Errorf("%s at %d px: %d px wider than the viewport", location(ctx), width, over)
	}
}

// Check shows the page of ctx's tab at each of Widths: a screenshot
// NAME-WIDTH.png, and no horizontal overflow. The viewport is left at the
// last width.
func Check(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	for _, w := range Widths {
		NoOverflow(t, ctx, w)
		Screenshot(t, ctx, fmt.Sprintf("%s-%d", name, w))
	}
}

// location is the URL of the tab's page, for messages.
func location(ctx context.Context) string {
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "the page"
	}
	return u
}
