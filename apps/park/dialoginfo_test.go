package park

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// parsedDialogInfo reads a body back with a schema written independently of
// the generator's structs.
type parsedDialogInfo struct {
	XMLName xml.Name
	Version string `xml:"version,attr"`
	State   string `xml:"state,attr"`
	Entity  string `xml:"entity,attr"`
	Dialogs []struct {
		XMLName   xml.Name
		ID        string `xml:"id,attr"`
		Direction string `xml:"direction,attr"`
		State     struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:"state"`
	} `xml:"dialog"`
}

func parseDialogInfo(t testing.TB, body []byte) parsedDialogInfo {
	t.Helper()
	var d parsedDialogInfo
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatalf("body does not parse: %v\n%s", err, body)
	}
	if d.XMLName.Space != DialogInfoNS || d.XMLName.Local != "dialog-info" {
		t.Fatalf("root element %v", d.XMLName)
	}
	for _, dl := range d.Dialogs {
		if dl.XMLName.Space != DialogInfoNS || dl.State.XMLName.Space != DialogInfoNS {
			t.Fatalf("dialog outside the dialog-info namespace: %v", dl.XMLName)
		}
	}
	return d
}

func TestDialogInfoStateFlips(t *testing.T) {
	const entity = "sip:7005@pbx.example.com"
	busy, err := DialogInfo(entity, 4, "7005", true, "park-7005")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(busy, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("no XML declaration:\n%s", busy)
	}
	if !strings.Contains(string(busy), `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="4" state="full" entity="sip:7005@pbx.example.com">`) {
		t.Errorf("root element:\n%s", busy)
	}
	d := parseDialogInfo(t, busy)
	if d.Version != "4" || d.State != "full" || d.Entity != entity {
		t.Errorf("attributes %+v", d)
	}
	if len(d.Dialogs) != 1 || d.Dialogs[0].ID != "park-7005" || d.Dialogs[0].Direction != "recipient" || d.Dialogs[0].State.Value != "confirmed" {
		t.Errorf("occupied: dialogs %+v", d.Dialogs)
	}

	free, err := DialogInfo(entity, 5, "7005", false, "park-7005")
	if err != nil {
		t.Fatal(err)
	}
	d = parseDialogInfo(t, free)
	if d.Version != "5" || len(d.Dialogs) != 1 || d.Dialogs[0].ID != "park-7005" || d.Dialogs[0].State.Value != "terminated" {
		t.Errorf("free: %+v", d)
	}
}

func TestDialogInfoDefaults(t *testing.T) {
	// The dialog id defaults to the orbit.
	b, err := DialogInfo("sip:7005@h", 0, "7005", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := parseDialogInfo(t, b); d.Version != "0" || len(d.Dialogs) != 1 || d.Dialogs[0].ID != "7005" {
		t.Errorf("%+v", d)
	}
	// Neither id nor orbit: a free lamp is a full document without dialogs.
	b, err = DialogInfo("sip:park@h", 1, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := parseDialogInfo(t, b); len(d.Dialogs) != 0 {
		t.Errorf("free without id: %+v", d)
	}
	// Special characters are escaped.
	b, err = DialogInfo(`sip:7005@h;x="a&b"<`, 1, "7005", true, `<&>`)
	if err != nil {
		t.Fatal(err)
	}
	if d := parseDialogInfo(t, b); d.Entity != `sip:7005@h;x="a&b"<` || d.Dialogs[0].ID != `<&>` {
		t.Errorf("escaping: %+v", d)
	}
}

func TestDialogInfoErrors(t *testing.T) {
	tests := []struct {
		name     string
		entity   string
		version  int
		orbit    string
		occupied bool
		id       string
	}{
		{"no entity", "", 0, "7005", true, "x"},
		{"negative version", "sip:7005@h", -1, "7005", true, "x"},
		{"occupied without id", "sip:7005@h", 0, "", true, ""},
		{"CRLF in entity", "sip:7005@h\r\nX: y", 0, "7005", true, "x"},
		{"NUL in id", "sip:7005@h", 0, "7005", true, "a\x00b"},
		{"invalid UTF-8", "sip:7005@h", 0, "\xff", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := DialogInfo(tt.entity, tt.version, tt.orbit, tt.occupied, tt.id)
			if err == nil {
				t.Fatalf("no error; body:\n%s", b)
			}
			if !strings.HasPrefix(err.Error(), "park: ") {
				t.Errorf("error %q lacks the park: prefix", err)
			}
		})
	}
}

// FuzzDialogInfo checks that every body DialogInfo accepts to produce parses
// back to the same values.
func FuzzDialogInfo(f *testing.F) {
	f.Add("sip:7005@pbx.example.com", 3, "7005", true, "park-7005")
	f.Add("sip:x@h", 0, "", false, "")
	f.Add("sip:<&>\"'@h", 1, "7", false, "\u00e9\U0001F600")
	f.Fuzz(func(t *testing.T, entity string, version int, orbit string, occupied bool, id string) {
		b, err := DialogInfo(entity, version, orbit, occupied, id)
		if err != nil {
			return
		}
		d := parseDialogInfo(t, b)
		if d.Entity != entity || d.State != "full" {
			t.Fatalf("entity %q, state %q; want %q", d.Entity, d.State, entity)
		}
		wantID := id
		if wantID == "" {
			wantID = orbit
		}
		switch {
		case wantID == "":
			if occupied || len(d.Dialogs) != 0 {
				t.Fatalf("dialogs %+v", d.Dialogs)
			}
		case len(d.Dialogs) != 1 || d.Dialogs[0].ID != wantID:
			t.Fatalf("dialogs %+v, want id %q", d.Dialogs, wantID)
		case occupied != (d.Dialogs[0].State.Value == "confirmed"):
			t.Fatalf("occupied %v, state %q", occupied, d.Dialogs[0].State.Value)
		}
	})
}
