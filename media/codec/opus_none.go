//go:build !opus

package codec

// Without the opus build tag there is no Opus codec: the default build
// stays pure Go (see opus.go).
func opusCodecAvailable() (Codec, bool) { return nil, false }
