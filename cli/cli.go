// Package cli is mgmtd's command line: one table of commands drives the
// dispatch, `mgmtd help`, `mgmtd help COMMAND` and the shell completion,
// and every command that talks to a running daemon does so through one
// REST client (client.go). The daemon itself is built by package mgmtd;
// cli parses flags, calls it, and prints.
//
// cli imports mgmtd (the wiring, for serve, demo and the offline
// rehearsal of actions), the leaf packages it prints (model, action, auth,
// audit and its PostgreSQL store for audit verify/export), rest's wire
// types, the MIB files, and the Pacemaker source for the offline queries on a CIB file.
// Only cmd/mgmtd imports it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// command is one entry of the table. setup registers the command's flags
// on fs and returns the function that runs it with the positional
// arguments; it is called once per dispatch, help or completion, so the
// flags are declared in one place.
type command struct {
	name     string
	synopsis string // what follows the name in the usage line
	summary  string // one line for `mgmtd help`
	detail   string // more text for `mgmtd help COMMAND`
	// words are the second words the command takes (for completion).
	words []string
	// hidden commands run but are not listed (help, completion, manual).
	hidden bool
	setup  func(fs *flag.FlagSet, io *streams) runFunc
}

type runFunc func(ctx context.Context, pos []string) error

// streams are the command's standard output and error.
type streams struct{ out, err io.Writer }

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// exitCode ends a command with that exit status, the command having
// printed what it had to say (status, status --check).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends the command with its own exit status (mgmtd check
// --fail-on: 3), its message printed like any failure.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// table is every command, in the order `mgmtd help` lists them.
func table() []*command {
	return []*command{
		serveCommand(), demoCommand(), hubCommand(),
		queryCommand("where", "[NAME]", "where does a resource, service, address, node or VM run (the whole chain)"),
		queryCommand("impact", "NODE|HOST", "what goes away with a node or host, and what Pacemaker would do"),
		queryCommand("status", "", "the cluster at a glance"),
		actionCommand("resource", "start|stop|restart|move|ban|clear|cleanup|manage|unmanage RSC", "change a resource"),
		actionCommand("node", "standby|online|maintenance-on|maintenance-off NODE", "change a node"),
		actionCommand("cluster", "maintenance on|off", "cluster-wide maintenance mode"),
		actionCommand("fence", "NODE --confirm", "fence (reboot) a node"),
		actionCommand("vm", "migrate VM --to HOST", "live-migrate a VM Pacemaker does not manage"),
		checkCommand(), taskCommand(), historyCommand(), transitionCommand(), tokenCommand(), auditCommand(), mibsCommand(), alertCommand(),
		versionCommand(), helpCommand(), completionCommand(), manCommand(),
	}
}

func lookup(name string) *command {
	for _, c := range table() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// Main runs the command line with args (without the program name) and
// returns the exit status: 0 on success and for -h, 2 for a usage error,
// 1 for any other failure (printed on stderr).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help":
		name = "help"
	}
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "mgmtd: unknown command %q\n", name)
		usage(stderr)
		return 2
	}
	err := run(ctx, cmd, args[1:], &streams{out: stdout, err: stderr})
	var ue usageError
	var ee exitError
	var ec exitCode
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "mgmtd:", err)
		fmt.Fprintf(stderr, "Run \"mgmtd help %s\" for its usage.\n", cmd.name)
		return 2
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "mgmtd:", err)
		return ee.code
	}
	fmt.Fprintln(stderr, "mgmtd:", err)
	return 1
}

// run parses a command's flags (before and after its positional words)
// and runs it.
func run(ctx context.Context, cmd *command, args []string, s *streams) error {
	fs := flagSet(cmd, s.err)
	fn := cmd.setup(fs, s)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return fn(ctx, pos)
}

func flagSet(cmd *command, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by Main
	fs.Usage = func() { commandHelp(w, cmd) }
	return fs
}

// parseInterleaved parses flags given before and after positional words.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: mgmtd COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range table() {
		if c.hidden {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "mgmtd help COMMAND" for a command's usage and flags.`)
}

// commandHelp prints one command's usage, description and flags.
func commandHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "usage: mgmtd %s %s [flags]\n\n%s\n", cmd.name, cmd.synopsis, cmd.summary)
	if cmd.detail != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.detail))
	}
	helpExtra(w, cmd.name)
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.setup(fs, &streams{out: io.Discard, err: io.Discard})
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func helpCommand() *command {
	return &command{name: "help", synopsis: "[COMMAND]", summary: "list the commands, or show one command's usage and flags",
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			return func(_ context.Context, pos []string) error {
				switch len(pos) {
				case 0:
					usage(s.out)
					return nil
				case 1:
					c := lookup(pos[0])
					if c == nil {
						return usagef("help: unknown command %q", pos[0])
					}
					commandHelp(s.out, c)
					return nil
				}
				return usagef("help: give at most one command")
			}
		}}
}

// flagNames lists a command's flags as --name.
func flagNames(cmd *command) []string {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	cmd.setup(fs, &streams{out: io.Discard, err: io.Discard})
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			out = append(out, "-"+f.Name)
		} else {
			out = append(out, "--"+f.Name)
		}
	})
	sort.Strings(out)
	return out
}

func completionCommand() *command {
	return &command{name: "completion", synopsis: "bash", summary: "print the shell completion script",
		detail: `Load it with: source <(mgmtd completion bash)`,
		setup: func(fs *flag.FlagSet, s *streams) runFunc {
			return func(_ context.Context, pos []string) error {
				if len(pos) != 1 || pos[0] != "bash" {
					return usagef("completion: only bash is supported (mgmtd completion bash)")
				}
				return bashCompletion(s.out)
			}
		}}
}

// bashCompletion writes a bash completion function generated from the
// table: the commands, each command's second words, and its flags.
func bashCompletion(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# bash completion for mgmtd, generated by `mgmtd completion bash`\n")
	b.WriteString("_mgmtd() {\n\tlocal cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}\n")
	var names []string
	var cmds []*command
	for _, c := range table() {
		if !c.hidden {
			names = append(names, c.name)
			cmds = append(cmds, c)
		}
	}
	fmt.Fprintf(&b, "\tif [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(names, " "))
	b.WriteString("\tcase \"$cmd\" in\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "\t%s)\n", c.name)
		if len(c.words) > 0 {
			fmt.Fprintf(&b, "\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(c.words, " "))
		}
		if c.name == "help" {
			fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n", strings.Join(names, " "))
			continue
		}
		fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n", strings.Join(flagNames(c), " "))
	}
	b.WriteString("\tesac\n}\ncomplete -o default -F _mgmtd mgmtd\n")
	_, err := io.WriteString(w, b.String())
	return err
}
