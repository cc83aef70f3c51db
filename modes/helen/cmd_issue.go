package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/pki"
)

func issueCommand() *cli.Command {
	return &cli.Command{
		Name:      "issue",
		Usage:     "write an agent certificate for offline enrollment: ca.pem, NAME.pem, NAME-key.pem; it replaces any certificate NAME had",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.StringFlag{Name: "out", Usage: "`DIR` to write the files to", Required: true, EnvVars: []string{"HELEN_ISSUE_OUT"}},
		},
		Action: func(c *cli.Context) error {
			return runIssue(c.Context, envOf(c), c.Args().First(), c.String("out"))
		},
	}
}

// runIssue issues agent name a certificate and writes it, its key and
// helen's CA in the directory out.
func runIssue(ctx context.Context, e env, name, out string) error {
	return query(ctx, e, askAgent[web.IssueResponse](http.MethodPost, name, "/certificate", nil), func(w io.Writer, resp web.IssueResponse) error {
		files := []struct {
			name string
			data string
			mode os.FileMode
		}{
			{"ca.pem", resp.CA, 0o644},
			{name + ".pem", resp.Cert, 0o644},
			{name + "-key.pem", resp.Key, 0o600},
		}
		for _, f := range files {
			if err := pki.WritePEMFile(filepath.Join(out, f.name), []byte(f.data), f.mode); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintf(w, "wrote %s, %s, %s in %s\n", files[0].name, files[1].name, files[2].name, out)
		return err
	})
}
