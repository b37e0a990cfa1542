package spool

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Damage is one damaged region of a segment that a reader skipped.
type Damage struct {
	// Segment is the segment's file name.
	Segment string
	// Offset and Length locate the skipped bytes in the segment.
	Offset int64
	Length int64
	// Reason says what was wrong: no record marker, an invalid length, a
	// checksum mismatch, a record cut off by the end of the file, or a
	// payload that does not decode.
	Reason string
}

// CorruptError lists the damaged regions a reader skipped. The records in
// them are lost; every intact record before and after them was read.
type CorruptError struct {
	Dir    string
	Damage []Damage
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spool: %s: skipped %d damaged regions, whose records are lost; intact records were kept", e.Dir, len(e.Damage))
	for i, d := range e.Damage {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Damage)-i)
			break
		}
		fmt.Fprintf(&b, "; %s at offset %d, %d bytes: %s", d.Segment, d.Offset, d.Length, d.Reason)
	}
	return b.String()
}

// readWindow is the size of one read from a segment file.
const readWindow = 256 << 10

// frameReader reads frames from a segment through a window of cached
// bytes. Bytes below size never change, because segments only grow, so
// the window stays valid as size grows.
type frameReader struct {
	r    io.ReaderAt
	size int64
	win  []byte
	off  int64 // file offset of win[0]
}

// at returns the n bytes at off, which must lie below size. The slice is
// valid until the next call.
func (fr *frameReader) at(off int64, n int) ([]byte, error) {
	if off >= fr.off && off+int64(n) <= fr.off+int64(len(fr.win)) {
		start := int(off - fr.off)
		return fr.win[start : start+n], nil
	}
	k := int(min(int64(max(n, readWindow)), fr.size-off))
	if cap(fr.win) < k {
		fr.win = make([]byte, k)
	}
	fr.win = fr.win[:k]
	got, err := fr.r.ReadAt(fr.win, off)
	if got < n {
		fr.win = fr.win[:0]
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	fr.win = fr.win[:got]
	fr.off = off
	return fr.win[:n], nil
}

// next reads the frame at off. It returns the payload, valid until the
// next call, and the offset after the frame. When the bytes at off are not
// an intact frame, it returns no payload, a description of the damage and
// the offset of the next record marker, or size when there is none. At
// size it returns no payload, no damage and off.
func (fr *frameReader) next(off int64) (payload []byte, next int64, damage string, err error) {
	if off >= fr.size {
		return nil, off, "", nil
	}
	if fr.size-off < frameHeaderSize {
		return nil, fr.size, "record cut off by the end of the file", nil
	}
	header, err := fr.at(off, frameHeaderSize)
	if err != nil {
		return nil, off, "", err
	}
	if !bytes.Equal(header[:4], frameMagic[:]) {
		next, err := fr.findMagic(off + 1)
		return nil, next, "no record marker", err
	}
	length := int64(binary.LittleEndian.Uint32(header[4:8]))
	sum := binary.LittleEndian.Uint32(header[8:12])
	var lengthBytes [4]byte
	copy(lengthBytes[:], header[4:8])

	if length > MaxRecordSize || off+frameHeaderSize+length > fr.size {
		next, err := fr.findMagic(off + 1)
		if next == fr.size && off+frameHeaderSize+length > fr.size && length <= MaxRecordSize {
			return nil, next, "record cut off by the end of the file", err
		}
		return nil, next, "invalid record length", err
	}
	payload, err = fr.at(off+frameHeaderSize, int(length))
	if err != nil {
		return nil, off, "", err
	}
	if frameChecksum(lengthBytes[:], payload) != sum {
		next, err := fr.findMagic(off + 1)
		return nil, next, "checksum mismatch", err
	}
	return payload, off + frameHeaderSize + length, "", nil
}

// findMagic returns the offset of the first record marker at or after
// from, or size when there is none.
func (fr *frameReader) findMagic(from int64) (int64, error) {
	for pos := from; fr.size-pos >= int64(len(frameMagic)); {
		n := int(min(readWindow, fr.size-pos))
		chunk, err := fr.at(pos, n)
		if err != nil {
			return pos, err
		}
		if i := bytes.Index(chunk, frameMagic[:]); i >= 0 {
			return pos + int64(i), nil
		}
		// A marker may straddle two chunks.
		pos += int64(n - len(frameMagic) + 1)
	}
	return fr.size, nil
}

// scanFrames reads every frame of a segment of the given size, calls visit
// for each intact, decodable one, and returns the damaged regions.
func scanFrames(r io.ReaderAt, name string, size int64, visit func(payload []byte) error) ([]Damage, error) {
	fr := frameReader{r: r, size: size}
	var damage []Damage
	for off := int64(0); off < size; {
		payload, next, bad, err := fr.next(off)
		if err != nil {
			return damage, err
		}
		if bad == "" {
			if err := visit(payload); err != nil {
				bad = err.Error()
			}
		}
		if bad != "" {
			damage = append(damage, Damage{Segment: name, Offset: off, Length: next - off, Reason: bad})
		}
		off = next
	}
	return damage, nil
}
