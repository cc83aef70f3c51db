package notify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// templatesDir holds the example templates shipped in docs/.
const templatesDir = "../../../../docs/notify"

// TestDocTemplates: each example template parses, and makes for every
// kind of notification, even one whose message is made to break JSON, a
// valid document of the shape its service takes.
func TestDocTemplates(t *testing.T) {
	for name, check := range map[string]func(t *testing.T, doc map[string]any, n Notification){
		"slack": func(t *testing.T, doc map[string]any, n Notification) {
			att := doc["attachments"].([]any)[0].(map[string]any)
			if doc["text"] != n.Headline() || att["text"] != n.Message || att["color"] == "" {
				t.Errorf("%v", doc)
			}
		},
		"teams": func(t *testing.T, doc map[string]any, n Notification) {
			att := doc["attachments"].([]any)[0].(map[string]any)
			card := att["content"].(map[string]any)
			body := card["body"].([]any)
			if doc["type"] != "message" || att["contentType"] != "application/vnd.microsoft.card.adaptive" ||
				card["type"] != "AdaptiveCard" || body[0].(map[string]any)["text"] != n.Headline() ||
				body[1].(map[string]any)["text"] != n.Message {
				t.Errorf("%v", doc)
			}
		},
		"discord": func(t *testing.T, doc map[string]any, n Notification) {
			e := doc["embeds"].([]any)[0].(map[string]any)
			if e["title"] != n.Headline() || e["description"] != n.Message || e["color"].(float64) <= 0 {
				t.Errorf("%v", doc)
			}
		},
		"ntfy": func(t *testing.T, doc map[string]any, n Notification) {
			if doc["topic"] == "" || doc["title"] != n.Headline() || doc["message"] != n.Message {
				t.Errorf("%v", doc)
			}
			if p := doc["priority"].(float64); p < 1 || p > 5 {
				t.Errorf("priority %v", p)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(templatesDir, name+".tmpl"))
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := ParseTemplate(name, string(text))
			if err != nil {
				t.Fatal(err)
			}
			w := &Webhook{Template: tmpl}
			for _, k := range Kinds {
				n := Sample(k)
				n.Message = "a \"quoted\" word,\nthen a newline, a tab\t, {{braces}} and </script>"
				body, err := w.Body(n)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				var doc map[string]any
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatalf("%s: %v\n%s", k, err, body)
				}
				check(t, doc, n)
				if n.Dashboard != "" && !strings.Contains(string(body), n.Dashboard) {
					t.Errorf("%s: no link to the dashboard", k)
				}
			}
		})
	}
	names, _ := filepath.Glob(filepath.Join(templatesDir, "*.tmpl"))
	if len(names) != 4 {
		t.Errorf("docs have %d templates, the test knows 4: %v", len(names), names)
	}
}
