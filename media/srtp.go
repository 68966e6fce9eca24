package media

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP suite names as RFC 4568 section 6.2 spells them in a=crypto.
const (
	SuiteAES128SHA1_80 = "AES_CM_128_HMAC_SHA1_80"
	SuiteAES128SHA1_32 = "AES_CM_128_HMAC_SHA1_32"
)

// SRTPKeyLen is the length of an AES_CM_128 SDES key: a 16-byte master key
// followed by a 14-byte master salt (RFC 4568 section 6.1).
const SRTPKeyLen = 30

// ErrSRTPSuite is returned for a crypto suite the session cannot use.
var ErrSRTPSuite = errors.New("media: unsupported SRTP crypto suite")

// SRTPKeys are the SDES keys of one SRTP session (RFC 3711, keyed by
// RFC 4568): Local protects what the session sends, Remote checks and
// decrypts what it receives. Each is master key || master salt. The keys
// are secrets: String hides them, so printing or logging SRTPKeys shows
// only the suite.
type SRTPKeys struct {
	Suite  string
	Local  []byte
	Remote []byte
}

// String names the suite and hides the keys.
func (k SRTPKeys) String() string { return "SRTP " + k.Suite }

func srtpProfile(suite string) (srtp.ProtectionProfile, error) {
	switch suite {
	case SuiteAES128SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case SuiteAES128SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	}
	return 0, fmt.Errorf("%w %q", ErrSRTPSuite, suite)
}

// srtpState is the SRTP transform of a session: it sits between the
// session's packets and its sockets, so everything above it (consumers,
// observers, relays, recorders) sees plain RTP. Each context is used by
// one goroutine at a time: tx under the session's wmu, rx by the RTP
// reader, and the RTCP pair under *rtcpMu (reports are sent from a timer
// and from Close, read by the RTCP reader).
type srtpState struct {
	keys   SRTPKeys
	tx, rx *srtp.Context
	rtcpMu *sync.Mutex
	rtcpTx *srtp.Context
	rtcpRx *srtp.Context
	txBuf  []byte
	// txHdr and rxHdr are scratch headers handed to pion, which
	// allocates one per packet when given none.
	txHdr, rxHdr rtp.Header
}

// newSRTPState makes the contexts for k. The sending contexts of prev are
// kept when the local key is the same: a fresh context would restart the
// rollover counter at 0 and, once the stream's sequence number has
// wrapped, encrypt with a key and index already used (RFC 3711 section
// 9.1 forbids reuse), so only a new local key gets new sending contexts.
func newSRTPState(k SRTPKeys, prev *srtpState) (*srtpState, error) {
	prof, err := srtpProfile(k.Suite)
	if err != nil {
		return nil, err
	}
	if len(k.Local) != SRTPKeyLen || len(k.Remote) != SRTPKeyLen {
		return nil, fmt.Errorf("media: SRTP keys must be %d bytes", SRTPKeyLen)
	}
	mk := func(key []byte) (*srtp.Context, error) {
		// pion checks no replays unless asked; 64 packets is the
		// window RFC 3711 section 3.3.2 sets as the minimum.
		return srtp.CreateContext(key[:16], key[16:], prof,
			srtp.SRTPReplayProtection(64), srtp.SRTCPReplayProtection(64))
	}
	st := &srtpState{keys: SRTPKeys{Suite: k.Suite, Local: bytes.Clone(k.Local), Remote: bytes.Clone(k.Remote)}}
	type keyed struct {
		dst **srtp.Context
		key []byte
	}
	contexts := []keyed{{&st.rx, k.Remote}, {&st.rtcpRx, k.Remote}}
	if prev != nil && prev.keys.Suite == k.Suite && bytes.Equal(prev.keys.Local, k.Local) {
		st.tx, st.rtcpTx, st.rtcpMu = prev.tx, prev.rtcpTx, prev.rtcpMu
	} else {
		st.rtcpMu = new(sync.Mutex)
		contexts = append(contexts, keyed{&st.tx, k.Local}, keyed{&st.rtcpTx, k.Local})
	}
	for _, c := range contexts {
		if *c.dst, err = mk(c.key); err != nil {
			return nil, fmt.Errorf("media: SRTP context: %w", err)
		}
	}
	return st, nil
}

func (st *srtpState) same(k SRTPKeys) bool {
	return st.keys.Suite == k.Suite && bytes.Equal(st.keys.Local, k.Local) && bytes.Equal(st.keys.Remote, k.Remote)
}

// SetSRTP switches the session to SRTP with k, or back to plain RTP with
// nil. Setting the keys in force again keeps the running cryptographic
// contexts (a re-INVITE that repeats the crypto attributes); a new remote
// key starts new receiving contexts, a new local key new sending ones.
// Packets that fail authentication once SRTP is on are dropped and
// counted in Stats.SRTPAuthFailed. Safe for concurrent use.
func (s *Session) SetSRTP(k *SRTPKeys) error {
	s.srtpMu.Lock()
	defer s.srtpMu.Unlock()
	if k == nil {
		s.srtp.Store(nil)
		return nil
	}
	if cur := s.srtp.Load(); cur != nil && cur.same(*k) {
		return nil
	}
	st, err := newSRTPState(*k, s.srtpLast)
	if err != nil {
		return err
	}
	s.srtpLast = st
	s.srtp.Store(st)
	return nil
}

// SRTP reports whether the session protects its media with SRTP.
func (s *Session) SRTP() bool { return s.srtp.Load() != nil }

// protectRTP returns pkt encrypted when SRTP is on, else pkt; wmu is
// held. The result aliases a buffer reused by the next call.
func (s *Session) protectRTP(pkt []byte) ([]byte, error) {
	st := s.srtp.Load()
	if st == nil {
		return pkt, nil
	}
	out, err := st.tx.EncryptRTP(st.txBuf[:0], pkt, &st.txHdr)
	if err != nil {
		return nil, fmt.Errorf("media: srtp protect: %w", err)
	}
	st.txBuf = out[:0]
	return out, nil
}

// unprotectRTP decrypts pkt in place when SRTP is on; ok is false for a
// packet that fails authentication or replay checks (RFC 3711 section
// 3.3), which is counted. Reader goroutine only.
func (s *Session) unprotectRTP(pkt []byte) ([]byte, bool) {
	st := s.srtp.Load()
	if st == nil {
		return pkt, true
	}
	out, err := st.rx.DecryptRTP(pkt, pkt, &st.rxHdr)
	if err != nil {
		s.srtpFailed.Add(1)
		return nil, false
	}
	return out, true
}

// protectRTCP returns an SRTCP packet (RFC 3711 section 3.4) when SRTP
// is on.
func (s *Session) protectRTCP(pkt []byte) ([]byte, error) {
	st := s.srtp.Load()
	if st == nil {
		return pkt, nil
	}
	st.rtcpMu.Lock()
	defer st.rtcpMu.Unlock()
	return st.rtcpTx.EncryptRTCP(nil, pkt, nil)
}

// unprotectRTCP checks and decrypts an SRTCP packet in place.
func (s *Session) unprotectRTCP(pkt []byte) ([]byte, bool) {
	st := s.srtp.Load()
	if st == nil {
		return pkt, true
	}
	st.rtcpMu.Lock()
	defer st.rtcpMu.Unlock()
	out, err := st.rtcpRx.DecryptRTCP(pkt, pkt, nil)
	if err != nil {
		s.srtpFailed.Add(1)
		return nil, false
	}
	return out, true
}
