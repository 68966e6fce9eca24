package endpoint

import "fmt"

// State is the state of a call.
type State int

// Call states, as in UCMA.
const (
	Idle State = iota
	Incoming
	Establishing
	Established
	Parking
	Transferring
	Terminating
	Terminated
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
