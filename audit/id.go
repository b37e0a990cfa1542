package audit

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// idGenerator issues UUIDv7s that increase strictly. Its zero value is
// ready to use.
type idGenerator struct {
	// lastTick is the time field of the last id issued: Unix milliseconds
	// in the high bits and a 12-bit fraction of the millisecond below them,
	// the layout RFC 9562 section 6.2 calls method 3.
	lastTick atomic.Uint64
}

// processIDs issues every id of this process, so that ids from all Loggers
// increase together.
var processIDs idGenerator

// NewID returns a new UUIDv7 in canonical text form, stamped with the
// current time. IDs issued in one process are strictly increasing, as text
// and as bytes, in the order the calls took effect, from any goroutine.
func NewID() string {
	return formatID(processIDs.next(time.Now()))
}

// next returns a UUIDv7 for time now that sorts after every id g issued
// before. When now is not later than the last id's time, as happens within
// one 1/4096 ms or when the clock steps back, the id takes the last id's
// time plus one tick. Its time field may then run slightly ahead of now.
func (g *idGenerator) next(now time.Time) [16]byte {
	tick := idTick(now)
	for {
		last := g.lastTick.Load()
		next := max(tick, last+1)
		if g.lastTick.CompareAndSwap(last, next) {
			tick = next
			break
		}
	}

	var id [16]byte
	ms := tick >> 12
	id[0] = byte(ms >> 40)
	id[1] = byte(ms >> 32)
	id[2] = byte(ms >> 24)
	id[3] = byte(ms >> 16)
	id[4] = byte(ms >> 8)
	id[5] = byte(ms)
	id[6] = 0x70 | byte(tick>>8&0x0F)
	id[7] = byte(tick)
	binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	id[8] = id[8]&0x3F | 0x80 // RFC 9562 variant
	return id
}

// idTick returns now as Unix milliseconds shifted left by 12 bits, plus
// the fraction of the millisecond in 1/4096 steps.
func idTick(now time.Time) uint64 {
	ms := now.UnixMilli()
	if ms < 0 {
		return 0
	}
	frac := uint64(now.Nanosecond()%int(time.Millisecond)) * 4096 / uint64(time.Millisecond)
	return uint64(ms)<<12 | frac
}

// formatID returns id as 36 characters of lowercase hex with dashes.
func formatID(id [16]byte) string {
	var buf [36]byte
	return string(appendID(buf[:0], id))
}

// appendID appends id as 36 characters of lowercase hex with dashes.
func appendID(dst []byte, id [16]byte) []byte {
	const hexDigits = "0123456789abcdef"
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0x0F])
	}
	return dst
}
