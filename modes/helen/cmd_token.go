package helen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/equus-monitoring/equus/modes/helen/server"
	"github.com/equus-monitoring/equus/modes/helen/web"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/tty"
)

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "make an enrollment token and print the command that joins a machine with it",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.IntFlag{Name: "uses", Value: 1, Usage: "let `N` agents enroll with it", EnvVars: []string{"HELEN_TOKEN_USES"}},
			&cli.DurationFlag{Name: "ttl", Value: 24 * time.Hour, Usage: "keep it valid for `DURATION`", EnvVars: []string{"HELEN_TOKEN_TTL"}},
			&cli.StringFlag{Name: "agent", Usage: "make it enroll agent `NAME` alone, even one enrolled already (a machine set up anew); " +
				"without it, a token enrolls only names helen does not know yet", EnvVars: []string{"HELEN_TOKEN_AGENT"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			return runToken(c.Context, envOf(c), web.TokenRequest{Uses: c.Int("uses"), TTL: web.Duration(c.Duration("ttl")), Agent: c.String("agent")})
		},
	}
}

// runToken makes an enrollment token and prints it with its join command.
func runToken(ctx context.Context, e env, req web.TokenRequest) error {
	return query(ctx, e, ask[web.TokenResponse](http.MethodPost, "/v1/tokens", req), printToken)
}

func printToken(w io.Writer, t web.TokenResponse) error {
	agent := ""
	if t.Agent != "" {
		agent = ", for agent " + t.Agent
	}
	fmt.Fprintf(w, "token: %s\nuses: %d, expires %s%s\n", t.Token, t.Uses, t.Expires.Local().Format(time.RFC3339), agent)
	if t.Helen != "" { // a helen of an earlier version does not say
		fmt.Fprintln(w, tty.Line(server.ExplainAdvertised(t.Helen, t.HelenFrom, t.Helens)))
	}
	_, err := fmt.Fprintf(w, "join a machine, as root on it:\n  %s\n", t.Join)
	return err
}
