package helen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/equus-monitoring/equus/internal/passwd"
	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/modes/helen/web"
	"github.com/equus-monitoring/equus/modes/setup"
)

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "the operators' accounts of the console: add, list, rm",
		Subcommands: []*cli.Command{
			userAddCommand(),
			userListCommand(),
			userRmCommand(),
		},
	}
}

func userAddCommand() *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "add an account that logs in to the console with a password, or with a token helen makes and prints once",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			dataFlag(), dbCheckFlag(),
			&cli.BoolFlag{Name: "read-only", Usage: "the account sees every page and can do nothing", EnvVars: []string{"HELEN_USER_READ_ONLY"}},
			&cli.StringFlag{Name: "password-file", Usage: "read the password from the first line of `FILE` (- for the standard input)", EnvVars: []string{"HELEN_USER_PASSWORD_FILE"}},
			&cli.BoolFlag{Name: "token", Usage: "make a random token to log in with instead of a password, and print it", EnvVars: []string{"HELEN_USER_TOKEN"}},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return setup.Usagef(c, "give the account's NAME")
			}
			req := web.UserRequest{Name: c.Args().First(), ReadOnly: c.Bool("read-only"), Token: c.Bool("token")}
			switch file := c.String("password-file"); {
			case file != "" && req.Token:
				return setup.Usagef(c, "give --password-file or --token, not both")
			case file != "":
				pw, err := readPassword(file, c.App.Reader)
				if err != nil {
					return setup.Usagef(c, "--password-file: %v", err)
				}
				req.Password = pw
			case !req.Token:
				return setup.Usagef(c, "give --password-file FILE or --token")
			}
			return runUserAdd(c.Context, envOf(c), req)
		},
	}
}

// readPassword reads the first line of file ("-": stdin), at most
// passwd.MaxSecret bytes.
func readPassword(file string, stdin io.Reader) (string, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, passwd.MaxSecret+2))
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > passwd.MaxSecret {
		return "", fmt.Errorf("%s: a password of at most %d bytes", file, passwd.MaxSecret)
	}
	return string(line), nil
}

// runUserAdd adds the account req, printing its token if one was made.
func runUserAdd(ctx context.Context, e env, req web.UserRequest) error {
	return query(ctx, e, ask[web.UserView](http.MethodPost, "/v1/users", req), func(w io.Writer, u web.UserView) error {
		if u.Token != "" {
			_, err := fmt.Fprintf(w, "added %s (%s); its token, shown this once:\n%s\n", u.Name, u.Role, u.Token)
			return err
		}
		_, err := fmt.Fprintf(w, "added %s (%s)\n", u.Name, u.Role)
		return err
	})
}

func userListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "list the accounts",
		Flags:   []cli.Flag{dataFlag(), dbCheckFlag(), jsonFlag()},
		Action: func(c *cli.Context) error {
			return query(c.Context, envOf(c), askList[web.UserView]("/v1/users", 0), printUsers)
		},
	}
}

func printUsers(w io.Writer, us []web.UserView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, u := range us {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", tty.Line(u.Name), u.Role, u.Created.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func userRmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove an account: its sessions of the console end",
		ArgsUsage: "NAME",
		Flags:     []cli.Flag{dataFlag(), dbCheckFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return setup.Usagef(c, "give the account's NAME")
			}
			name := c.Args().First()
			return query(c.Context, envOf(c), ask[map[string]string](http.MethodDelete, "/v1/users/"+pathSegment(name), nil), func(w io.Writer, _ map[string]string) error {
				_, err := fmt.Fprintf(w, "removed %s\n", name)
				return err
			})
		},
	}
}
