package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-sip/switchboard/admin"
)

const usage = `usage: switchboard <command> [flags]

commands:
  serve [-config FILE]          run the server (the embedded default config, and FILE on top)
  check-config [-config FILE]   validate a config, apps included, without binding a socket
  config                        print the embedded default config
  calls [-json]                 list live calls      (clients of the admin API; flags:
  orbits [-json]                list parked calls     -config FILE, -admin URL, -token T;
  conferences [-json]           list conferences      SWITCHBOARD_TOKEN also sets the token)
  phone dial URI [flags]        a command-line phone: call URI, play, record, send DTMF,
  phone answer -listen ADDR     transfer; answer one call (switchboard phone help)
  version                       print the version and VCS revision
  help                          print this help

SIGTERM drains (new calls get 503, established calls run up to drain_timeout),
SIGINT stops at once, SIGHUP reloads the config file.
`

// listCommand is `switchboard calls|orbits|conferences`: a thin client of
// the admin API that prints a table, or the API's JSON with -json, as
// `asterisk -rx "core show channels"` does for Asterisk.
func listCommand(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file whose admin section locates the API")
	base := fs.String("admin", "", "admin API base URL (default: from admin.listen)")
	token := fs.String("token", os.Getenv("SWITCHBOARD_TOKEN"), "bearer token (default: $SWITCHBOARD_TOKEN or admin.token)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	if *base == "" {
		if cfg.Admin.Listen == "" {
			fmt.Fprintln(stderr, "switchboard: the admin API is disabled (admin.listen is empty); pass -admin URL")
			return 1
		}
		scheme := "http"
		if cfg.Admin.TLSCert != "" {
			scheme = "https"
		}
		*base = scheme + "://" + cfg.Admin.Listen
	}
	if *token == "" {
		*token = cfg.Admin.Token
	}
	body, err := adminGet(strings.TrimSuffix(*base, "/")+"/api/v1/"+name, *token)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	defer tw.Flush()
	if err := printTable(tw, name, body); err != nil {
		fmt.Fprintln(stderr, "switchboard:", err)
		return 1
	}
	return 0
}

func adminGet(url, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		var p struct{ Title, Detail string }
		if json.Unmarshal(body, &p) == nil && p.Title != "" {
			return nil, fmt.Errorf("%s: %s: %s", url, p.Title, p.Detail)
		}
		return nil, fmt.Errorf("%s: %s", url, res.Status)
	}
	return body, nil
}

func printTable(w io.Writer, name string, body []byte) error {
	ago := func(t time.Time) string { return time.Since(t).Truncate(time.Second).String() }
	switch name {
	case "calls":
		var v struct{ Calls []admin.CallView }
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		fmt.Fprintln(w, "ID\tAPP\tFROM\tTO\tSTATE\tFOR\tCODEC\tRX\tTX\tLOST\tJITTER")
		for _, c := range v.Calls {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%.1fms\n", c.ID, c.App, c.From, c.To, c.State,
				ago(c.Since), c.Codec, c.RTP.PacketsReceived, c.RTP.PacketsSent, c.RTP.PacketsLost, c.RTP.JitterSeconds*1000)
		}
		fmt.Fprintf(w, "%d calls\n", len(v.Calls))
	case "orbits":
		var v struct{ Orbits []admin.OrbitView }
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		fmt.Fprintln(w, "ORBIT\tPARKED\tPARKER\tFOR\tCALL-ID")
		for _, o := range v.Orbits {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", o.Orbit, o.Parked, o.Parker, ago(o.Since), o.CallID)
		}
		fmt.Fprintf(w, "%d parked\n", len(v.Orbits))
	case "conferences":
		var v struct{ Conferences []admin.ConferenceView }
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		fmt.Fprintln(w, "ID\tURI\tPARTICIPANTS\tLOCKED\tRECORDING")
		for _, c := range v.Conferences {
			fmt.Fprintf(w, "%s\t%s\t%d\t%t\t%t\n", c.ID, c.URI, c.Participants, c.Locked, c.Recording)
		}
		fmt.Fprintf(w, "%d conferences\n", len(v.Conferences))
	default:
		return errors.New("unknown list " + name)
	}
	return nil
}
