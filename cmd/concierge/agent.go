package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/conciergehq/concierge"
	"github.com/conciergehq/concierge/internal/auth"
)

const agentUsage = `Usage:
  concierge agent add     --email E --name N --role R[,R] [--team T[,T]] [--max-chats N]
  concierge agent list    [--json]
  concierge agent set     --email E [--name N] [--role R,...] [--team T,...] [--max-chats N]
  concierge agent passwd  --email E
  concierge agent disable --email E
  concierge agent enable  --email E

Roles: admin (everything), agent (the panel at /agent), editor (the KB editor at /kb).
Passwords are read from a prompt, or from the first line of standard input when it is
not a terminal; never from the command line (it would land in shell history and ps).
`

// runAgent manages the accounts people sign in with.
func runAgent(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, agentUsage)
		if len(args) == 0 {
			return usagef("missing subcommand")
		}
		return nil
	}
	sub := args[0]
	fs := flag.NewFlagSet("agent "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g globals
	g.register(fs)
	email := fs.String("email", "", "the account's email address")
	name := fs.String("name", "", "the person's name as customers and colleagues see it")
	var roles, teams listFlag
	fs.Var(&roles, "role", "roles, comma-separated or repeated: admin, agent, editor")
	fs.Var(&teams, "team", "teams the agent answers for, comma-separated or repeated")
	maxChats := fs.Int("max-chats", -1, "concurrent chats auto-assignment gives this agent (0: the configured default)")
	asJSON := fs.Bool("json", false, "list as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q (passwords are never arguments: they are prompted for or read from stdin)", fs.Args())
	}
	needEmail := sub != "list"
	if needEmail && *email == "" {
		return usagef("--email is required")
	}
	known := map[string]bool{"add": true, "list": true, "set": true, "passwd": true, "disable": true, "enable": true}
	if !known[sub] {
		return usagef("unknown subcommand %q\n\n%s", sub, agentUsage)
	}
	e, err := g.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer e.close()
	a := newAuth(e)
	checkTeams := func(ts []string) error {
		valid := map[string]bool{}
		var names []string
		for _, t := range e.cfg.Handoff.TeamList() {
			valid[t.Name] = true
			names = append(names, t.Name)
		}
		for _, t := range ts {
			if !valid[strings.ToLower(t)] {
				return usagef("no team %q (configured: %s)", t, strings.Join(names, ", "))
			}
		}
		return nil
	}
	switch sub {
	case "add":
		if *name == "" || len(roles) == 0 {
			return usagef("add needs --email, --name and --role")
		}
		if err := checkTeams(teams); err != nil {
			return err
		}
		if len(teams) == 0 && slices.Contains(roles, "agent") {
			teams = listFlag{e.cfg.Handoff.DefaultTeam}
		}
		pw, err := readPassword(stdin, stderr, "Password for "+*email)
		if err != nil {
			return err
		}
		acct := auth.Account{Email: *email, Name: *name, Roles: roles, Teams: teams, MaxChats: max(*maxChats, 0)}
		created, err := a.Create(ctx, acct, pw)
		if err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "added %s (%s) with roles %s, teams %s\n", created.Email, created.Name,
			strings.Join(created.Roles, ","), strings.Join(created.Teams, ","))
	case "list":
		accts, err := e.store.Accounts(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if accts == nil {
				accts = []auth.Account{}
			}
			return enc.Encode(accts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLES\tTEAMS\tMAX CHATS\tSTATE\tLAST SIGN-IN")
		for _, ac := range accts {
			state := "active"
			if ac.Disabled {
				state = "disabled"
			} else if ac.MustChangePassword {
				state = "must change password"
			}
			last := "never"
			if ac.LastLoginAt != nil {
				last = ac.LastLoginAt.Local().Format("2006-01-02 15:04")
			}
			mc := "default"
			if ac.MaxChats > 0 {
				mc = fmt.Sprint(ac.MaxChats)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ac.ID, ac.Email, ac.Name, strings.Join(ac.Roles, ","),
				strings.Join(ac.Teams, ","), mc, state, last)
		}
		return tw.Flush()
	case "set", "disable", "enable":
		acct, err := e.store.AccountByEmail(ctx, *email)
		if err != nil {
			return friendly(err)
		}
		switch sub {
		case "disable":
			acct.Disabled = true
		case "enable":
			acct.Disabled = false
		default:
			if *name != "" {
				acct.Name = *name
			}
			if len(roles) > 0 {
				acct.Roles = roles
			}
			if len(teams) > 0 {
				if err := checkTeams(teams); err != nil {
					return err
				}
				acct.Teams = teams
			}
			if *maxChats >= 0 {
				acct.MaxChats = *maxChats
			}
		}
		if err := acct.Normalise(); err != nil {
			return friendly(err)
		}
		if err := e.store.UpdateAccount(ctx, acct); err != nil {
			return friendly(err)
		}
		switch sub {
		case "disable":
			fmt.Fprintf(stdout, "disabled %s; their sessions are ended and their open conversations return to the queue after the grace period\n", acct.Email)
		case "enable":
			fmt.Fprintf(stdout, "enabled %s\n", acct.Email)
		default:
			fmt.Fprintf(stdout, "updated %s: roles %s, teams %s\n", acct.Email, strings.Join(acct.Roles, ","), strings.Join(acct.Teams, ","))
		}
	case "passwd":
		acct, err := e.store.AccountByEmail(ctx, *email)
		if err != nil {
			return friendly(err)
		}
		pw, err := readPassword(stdin, stderr, "New password for "+acct.Email)
		if err != nil {
			return err
		}
		if err := a.SetPassword(ctx, acct.ID, pw, false, ""); err != nil {
			return friendly(err)
		}
		_ = os.Remove(e.dataDir + "/initial-admin-password")
		fmt.Fprintf(stdout, "changed the password of %s; their sessions are ended\n", acct.Email)
	}
	return nil
}

// friendly turns store errors into sentences for the terminal.
func friendly(err error) error {
	switch {
	case errors.Is(err, concierge.ErrNotFound):
		return usagef("no such account")
	case errors.Is(err, concierge.ErrConflict):
		return usagef("an account with this email already exists")
	case errors.Is(err, concierge.ErrInvalid):
		msg := err.Error()
		if i := strings.Index(msg, concierge.ErrInvalid.Error()+": "); i >= 0 {
			msg = msg[i+len(concierge.ErrInvalid.Error())+2:]
		}
		return usagef("%s", msg)
	}
	return err
}

// readPassword prompts twice on a terminal, or reads the first line of a pipe.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt+": ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", usagef("the passwords differ")
		}
		return string(p1), auth.CheckPassword(string(p1))
	}
	if stdin == nil {
		return "", usagef("no password: pipe it on standard input or run in a terminal")
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("no password on standard input")
	}
	if err := auth.CheckPassword(pw); err != nil {
		return "", usagef("%s", strings.TrimPrefix(err.Error(), "invalid input: "))
	}
	return pw, nil
}

// listFlag collects comma-separated or repeated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, strings.ToLower(p))
		}
	}
	return nil
}
