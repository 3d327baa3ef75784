package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"mgmtd/source/corosync"
	"mgmtd/source/pacemaker/cib"
	"mgmtd/toolexec"
)

// VerifyMessage is one message of crm_verify -V: its level (error or
// warning) and text, with consecutive lines of one function and level
// joined (crm_verify splits one finding over several lines).
type VerifyMessage struct {
	Level string `json:"level"`
	Text  string `json:"text"`
}

// MaxVerifyMessages bounds the messages kept of one crm_verify run.
const MaxVerifyMessages = 1000

// ParseVerify reads crm_verify -V output ("(function) \tlevel: text"
// lines, or "level: text" without the function). Lines that are neither
// an error nor a warning (crm_verify's summary, notices) are left out.
func ParseVerify(out []byte) []VerifyMessage {
	var msgs []VerifyMessage
	lastFn := "\x00"
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		fn := ""
		if strings.HasPrefix(line, "(") {
			if i := strings.IndexByte(line, ')'); i > 0 {
				fn, line = line[1:i], strings.TrimSpace(line[i+1:])
			}
		}
		level, text, ok := strings.Cut(line, ": ")
		if !ok || (level != "error" && level != "warning") {
			lastFn = "\x00"
			continue
		}
		text = strings.TrimSpace(text)
		if n := len(msgs); n > 0 && fn != "" && fn == lastFn && msgs[n-1].Level == level {
			msgs[n-1].Text += " " + text
			continue
		}
		lastFn = fn
		if len(msgs) == MaxVerifyMessages {
			msgs = append(msgs, VerifyMessage{Level: "warning", Text: fmt.Sprintf("more than %d messages; the rest left out", MaxVerifyMessages)})
			break
		}
		msgs = append(msgs, VerifyMessage{Level: level, Text: text})
	}
	return msgs
}

// Options say where Gather reads the cluster.
type Options struct {
	// CIBFile is a CIB file to check instead of the live cluster.
	CIBFile string
	// Corosync reads corosync-cmapctl (a live cluster only).
	Corosync bool
	// FencingSucceeded is the fencing history's verdict, if known.
	FencingSucceeded *bool
}

// Gather collects an Input with the cluster's tools: the CIB (cibadmin
// --query, or the file), crm_verify -V on it, and corosync-cmapctl. A
// failing crm_verify or corosync-cmapctl leaves its checks skipped; the
// CIB is required.
func Gather(ctx context.Context, run toolexec.Runner, o Options) (Input, error) {
	skipped := map[string]string{}
	var raw []byte
	var err error
	if o.CIBFile != "" {
		raw, err = os.ReadFile(o.CIBFile)
	} else {
		raw, err = run.Run(ctx, nil, "cibadmin", "--query")
	}
	if err != nil {
		return Input{}, err
	}
	c, err := cib.Parse(raw)
	if err != nil {
		return Input{}, err
	}
	in := Input{CIB: c, FencingSucceeded: o.FencingSucceeded, Skipped: skipped}

	// crm_verify prints its findings on standard error and exits non-zero
	// when there are errors; a shell joins the streams so that toolexec's
	// output cap applies to them. The shell is the system's, crm_verify is
	// in the runner's tool directory.
	crmVerify := "crm_verify"
	if run.Dir != "" {
		crmVerify = filepath.Join(run.Dir, crmVerify)
	}
	args := []string{"-c", `exec "$0" -V "$@" 2>&1`, crmVerify, "--live-check"}
	if o.CIBFile != "" {
		args = []string{"-c", `exec "$0" -V "$@" 2>&1`, crmVerify, "--xml-file", o.CIBFile}
	}
	shell := run
	shell.Dir = ""
	out, err := shell.Run(ctx, nil, "sh", args...)
	var te *toolexec.Error
	switch {
	case err == nil:
		in.VerifyRan = true
	case errors.As(err, &te) && te.ExitCode > 0 && te.ExitCode < 126 && !errors.Is(err, toolexec.ErrTimeout):
		in.VerifyRan = true // non-zero: it found errors
	default:
		skipped[CheckVerify] = "crm_verify: " + err.Error()
	}
	if in.VerifyRan {
		in.Verify = ParseVerify(out)
	}

	if o.Corosync && o.CIBFile == "" {
		out, err := run.Run(ctx, nil, "corosync-cmapctl")
		if err == nil {
			var cm map[string]corosync.CmapValue
			if cm, err = corosync.ParseCmap(out); err == nil {
				in.Cmap = map[string]string{}
				for k, v := range cm {
					in.Cmap[k] = v.Value
				}
			}
		}
		if err != nil {
			skipped[CheckSingleLink] = "corosync-cmapctl: " + err.Error()
			skipped[CheckToken] = skipped[CheckSingleLink]
		}
	}
	return in, nil
}
