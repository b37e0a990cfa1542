package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/agentaudit/agentaudit/audit"
)

// A segment file is a sequence of frames, one per entry, with no file
// header. A frame is
//
//	magic    4 bytes  frameMagic
//	length   4 bytes  payload length, little-endian
//	checksum 4 bytes  CRC-32C (Castagnoli) of the length bytes and the payload, little-endian
//	payload  length bytes
//
// and the payload is
//
//	version    1 byte   payloadVersion
//	id         uvarint length, bytes
//	type       uvarint length, bytes
//	chat id    uvarint length, bytes
//	created_at varint, Unix nanoseconds
//	metadata   uvarint length, bytes (JSON)
//
// The magic lets a reader find the next frame after a damaged one: it
// scans for the marker and accepts a frame only when its checksum matches.
// The marker starts with 0xFF, a byte that never occurs in UTF-8 text, so
// it cannot occur in the JSON metadata.
const (
	frameHeaderSize = 12
	payloadVersion  = 1
	// MaxRecordSize is the largest payload a frame may carry, in bytes.
	// Append rejects a larger entry, and a reader takes a larger length
	// field for damage.
	MaxRecordSize = 16 << 20
)

var frameMagic = [4]byte{0xFF, 'a', 'S', 'p'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends the frame of e to dst.
func appendFrame(dst []byte, e *audit.Entry) ([]byte, error) {
	start := len(dst)
	dst = append(dst, frameMagic[:]...)
	dst = append(dst, make([]byte, 8)...) // length and checksum, filled below

	dst = append(dst, payloadVersion)
	dst = appendBytes(dst, e.ID)
	dst = appendBytes(dst, string(e.Type))
	dst = appendBytes(dst, e.ChatID)
	dst = binary.AppendVarint(dst, e.CreatedAt.UnixNano())
	dst = binary.AppendUvarint(dst, uint64(len(e.Metadata)))
	dst = append(dst, e.Metadata...)

	n := len(dst) - start - frameHeaderSize
	if n > MaxRecordSize {
		return dst[:start], fmt.Errorf("entry %s is %d bytes encoded; the spool takes at most %d", e.ID, n, MaxRecordSize)
	}
	header := dst[start+4 : start+frameHeaderSize]
	binary.LittleEndian.PutUint32(header[0:4], uint32(n))
	binary.LittleEndian.PutUint32(header[4:8], frameChecksum(header[0:4], dst[start+frameHeaderSize:]))
	return dst, nil
}

func appendBytes(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func frameChecksum(length, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, length)
	return crc32.Update(c, castagnoli, payload)
}

// errPayload reports a payload whose checksum matched but whose fields do
// not decode, which only a writer bug or a foreign file can produce.
var errPayload = errors.New("payload does not decode")

// decodePayload decodes a frame's payload into an Entry that shares no
// memory with p.
func decodePayload(p []byte) (audit.Entry, error) {
	if len(p) == 0 || p[0] != payloadVersion {
		return audit.Entry{}, fmt.Errorf("%w: unknown version", errPayload)
	}
	d := decoder{buf: p[1:]}
	id := d.bytes()
	typ := d.bytes()
	chat := d.bytes()
	created := d.varint()
	meta := d.bytes()
	if d.err || len(d.buf) != 0 {
		return audit.Entry{}, errPayload
	}
	return audit.Entry{
		ID:        string(id),
		Type:      audit.EntryType(typ),
		ChatID:    string(chat),
		CreatedAt: time.Unix(0, created).UTC(),
		Metadata:  append([]byte(nil), meta...),
	}, nil
}

// decoder reads the fields of a payload; err is set on the first field
// that runs past the end.
type decoder struct {
	buf []byte
	err bool
}

func (d *decoder) bytes() []byte {
	n, k := binary.Uvarint(d.buf)
	if k <= 0 || n > uint64(len(d.buf)-k) {
		d.err = true
		return nil
	}
	b := d.buf[k : k+int(n)]
	d.buf = d.buf[k+int(n):]
	return b
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.buf)
	if k <= 0 {
		d.err = true
		return 0
	}
	d.buf = d.buf[k:]
	return v
}
