package endpoint

import "fmt"

// State is the state of a call.
type State int

// Call states, as in UCMA. StateIncoming is the state of an incoming call
// not yet accepted or declined; whether a call is incoming at all is
// [Call.Incoming].
const (
	StateIdle         State = iota // outgoing call before Establish
	StateIncoming                  // incoming call awaiting Accept, Decline or Redirect
	StateEstablishing              // INVITE sent, or 200 OK sent and awaiting ACK
	StateEstablished               // answered; media flows
	StateParking                   // being parked (not entered by this package)
	StateTransferring              // a transfer (REFER) is in progress
	StateTerminating               // BYE sent, awaiting its response
	StateTerminated                // ended; see Call.Reason
)

var stateNames = [...]string{"idle", "incoming", "establishing", "established", "parking", "transferring", "terminating", "terminated"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Reason explains a state transition.
type Reason string

// Transition reasons.
const (
	ReasonNone             Reason = ""
	ReasonIncoming         Reason = "incoming call"
	ReasonEstablishing     Reason = "establishing"
	ReasonAccepted         Reason = "accepted"
	ReasonEstablished      Reason = "established"
	ReasonDeclined         Reason = "declined"
	ReasonRejected         Reason = "rejected by remote"
	ReasonCancelled        Reason = "cancelled"
	ReasonRemoteCancelled  Reason = "cancelled by remote"
	ReasonLocalHangUp      Reason = "local hang-up"
	ReasonRemoteHangUp     Reason = "remote hang-up"
	ReasonTimeout          Reason = "timeout"
	ReasonRTPTimeout       Reason = "rtp timeout"
	ReasonSessionExpired   Reason = "session expired"
	ReasonTransferring     Reason = "transferring"
	ReasonTransferAccepted Reason = "transfer accepted"
	ReasonTransferFailed   Reason = "transfer failed"
	ReasonTransferred      Reason = "transferred"
	ReasonReplaced         Reason = "replaced"
	ReasonParking          Reason = "parking"
	ReasonParked           Reason = "call parked"
	ReasonParkFailed       Reason = "park failed"
	ReasonShutdown         Reason = "platform shutdown"
	ReasonFailed           Reason = "failed"
	ReasonNoACK            Reason = "no ACK"
)

// StateChange is delivered to OnStateChanged handlers.
type StateChange struct {
	Previous, State State
	Reason          Reason
}
