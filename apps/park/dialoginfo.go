package park

import (
	"encoding/xml"
	"errors"
	"fmt"
	"unicode/utf8"
)

// DialogInfoNS is the XML namespace of RFC 4235 dialog-info documents
// (content type application/dialog-info+xml).
const DialogInfoNS = "urn:ietf:params:xml:ns:dialog-info"

// Dialog states of RFC 4235 section 3.7.1 used for busy lamps.
const (
	dialogConfirmed  = "confirmed"
	dialogTerminated = "terminated"
)

// dialogInfo is the root element of RFC 4235 section 4.1.
type dialogInfo struct {
	XMLName xml.Name `xml:"urn:ietf:params:xml:ns:dialog-info dialog-info"`
	Version int      `xml:"version,attr"` // nonNegativeInteger, section 4.1.1
	State   string   `xml:"state,attr"`   // "full" or "partial", section 4.1.2
	Entity  string   `xml:"entity,attr"`  // anyURI, section 4.1.3
	Dialogs []dialog `xml:"dialog"`
}

// dialog is the dialog element of RFC 4235 section 4.1.6; only the required
// id, the direction and the state are used.
type dialog struct {
	ID        string `xml:"id,attr"`
	Direction string `xml:"direction,attr,omitempty"` // "initiator" or "recipient"
	State     string `xml:"state"`                    // section 4.1.6.1
}

// DialogInfo returns an RFC 4235 application/dialog-info+xml body for the
// busy lamp of one orbit, with state="full":
//
//	<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:7005@pbx.example.com">
//	  <dialog id="7005" direction="recipient"><state>confirmed</state></dialog>
//	</dialog-info>
//
// entity is the watched URI; version is the subscription's document counter
// (section 4.1.1: start at 0, add 1 per NOTIFY). When occupied, the orbit
// holds one confirmed dialog; the parked call was sent to the orbit, hence
// direction="recipient". When free, the dialog is reported terminated, as
// Asterisk does and as most phones expect; a full document without any
// dialog (section 4.1.2) is produced when both id and orbit are empty.
//
// id is the dialog id (default: orbit). It is visible to every watcher:
// never use the safe-retrieve token, and prefer an opaque value to the
// Call-ID.
func DialogInfo(entity string, version int, orbit string, occupied bool, id string) ([]byte, error) {
	if entity == "" {
		return nil, errors.New("park: dialog-info without entity")
	}
	if version < 0 {
		return nil, fmt.Errorf("park: dialog-info version %d is negative", version)
	}
	for _, v := range [...]string{entity, orbit, id} {
		if !xmlText(v) {
			return nil, fmt.Errorf("park: dialog-info value %q is not valid XML text", v)
		}
	}
	if id == "" {
		id = orbit
	}
	doc := dialogInfo{Version: version, State: "full", Entity: entity}
	switch {
	case occupied && id == "":
		return nil, errors.New("park: dialog-info for an occupied orbit needs a dialog id")
	case occupied:
		doc.Dialogs = []dialog{{ID: id, Direction: "recipient", State: dialogConfirmed}}
	case id != "":
		doc.Dialogs = []dialog{{ID: id, Direction: "recipient", State: dialogTerminated}}
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("park: dialog-info: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// xmlText reports whether s is valid UTF-8 made only of characters that XML
// 1.0 allows (section 2.2 of the XML spec) and that are not line breaks or
// tabs, which have no place in a URI or an id.
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}
