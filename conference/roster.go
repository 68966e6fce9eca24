package conference

import (
	"encoding/xml"
	"time"
)

// Role is a participant's role.
type Role int

// Roles.
const (
	Attendee Role = iota
	Leader
)

func (r Role) String() string {
	if r == Leader {
		return "leader"
	}
	return "participant"
}

// ParticipantInfo describes a roster entry.
type ParticipantInfo struct {
	ID          string // unique within the conference
	URI         string // the SIP URI the participant joined with
	DisplayName string
	Role        Role
	Trusted     bool // joined as a trusted participant
	Hidden      bool // not shown to SIP subscribers (trusted participants)
	Muted       bool
	JoinedAt    time.Time
}

// RosterChange is delivered to OnRosterChanged handlers.
type RosterChange struct {
	Joined, Left []ParticipantInfo
}

// conference-info document of RFC 4575 section 5.

type confInfo struct {
	XMLName xml.Name   `xml:"urn:ietf:params:xml:ns:conference-info conference-info"`
	Entity  string     `xml:"entity,attr"`
	State   string     `xml:"state,attr"`
	Version int        `xml:"version,attr"`
	Desc    *confDesc  `xml:"conference-description,omitempty"`
	State2  *confState `xml:"conference-state,omitempty"`
	Users   confUsers  `xml:"users"`
}

type confDesc struct {
	Subject string `xml:"subject,omitempty"`
}

type confState struct {
	UserCount int  `xml:"user-count"`
	Locked    bool `xml:"locked"`
}

type confUsers struct {
	Users []confUser `xml:"user"`
}

type confUser struct {
	Entity      string        `xml:"entity,attr"`
	State       string        `xml:"state,attr"`
	DisplayText string        `xml:"display-text,omitempty"`
	Roles       *confRoles    `xml:"roles,omitempty"`
	Endpoint    *confEndpoint `xml:"endpoint,omitempty"`
}

type confRoles struct {
	Entry []string `xml:"entry"`
}

type confEndpoint struct {
	Entity string     `xml:"entity,attr"`
	Status string     `xml:"status"`
	Media  *confMedia `xml:"media,omitempty"`
}

type confMedia struct {
	ID     string `xml:"id,attr"`
	Type   string `xml:"type"`
	Status string `xml:"status"`
}

// conferenceInfo renders a full or partial conference-info document of the
// visible participants. removed lists participants that left (partial
// only).
func conferenceInfo(entity string, version int, full bool, locked bool, users []ParticipantInfo, removed []ParticipantInfo, total int) ([]byte, error) {
	doc := confInfo{Entity: entity, Version: version, State: "partial"}
	if full {
		doc.State = "full"
		doc.State2 = &confState{UserCount: total, Locked: locked}
	}
	for _, u := range users {
		status, mstatus := "connected", "sendrecv"
		if u.Muted {
			mstatus = "recvonly"
		}
		cu := confUser{
			Entity: u.URI, State: "full", DisplayText: u.DisplayName,
			Endpoint: &confEndpoint{Entity: u.URI + ";id=" + u.ID, Status: status, Media: &confMedia{ID: "1", Type: "audio", Status: mstatus}},
		}
		if u.Role != Attendee {
			// Roles are sent only when not the default, to keep NOTIFYs
			// under the 1300-byte UDP limit of RFC 3261 section 18.1.1.
			cu.Roles = &confRoles{Entry: []string{u.Role.String()}}
		}
		doc.Users.Users = append(doc.Users.Users, cu)
	}
	for _, u := range removed {
		doc.Users.Users = append(doc.Users.Users, confUser{Entity: u.URI, State: "deleted"})
	}
	b, err := xml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
