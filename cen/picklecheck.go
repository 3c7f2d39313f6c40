package cen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// checkPickle walks the pickle program at the start of b, up to its STOP, and checks that every length its
// opcodes declare (strings, bytes, frames) fits in the bytes that follow. gopickle allocates a declared
// length before it reads: a corrupt 8-byte length asks for terabytes, which the Go runtime cannot allocate,
// and that failure ends the process instead of raising a panic ParseTorch could recover. Opcodes it does not
// know end the walk; the unpickler then reports them.
func checkPickle(b []byte) error {
	p := 0
	need := func(n uint64, what string) error {
		if n > uint64(len(b)-p) {
			return fmt.Errorf("is truncated (a pickled %s of %d bytes at byte %d, %d bytes left): %w", what, n, p, len(b)-p, io.ErrUnexpectedEOF)
		}
		p += int(n)
		return nil
	}
	// length reads a little-endian length of w bytes, then checks that many bytes follow.
	length := func(w int, what string) error {
		if err := need(uint64(w), what+" length"); err != nil {
			return err
		}
		var n uint64
		for i := w - 1; i >= 0; i-- {
			n = n<<8 | uint64(b[p-w+i])
		}
		return need(n, what)
	}
	line := func(what string) error {
		i := bytes.IndexByte(b[p:], '\n')
		if i < 0 {
			return fmt.Errorf("is truncated (a pickled %s at byte %d has no end of line): %w", what, p, io.ErrUnexpectedEOF)
		}
		p += i + 1
		return nil
	}
	for p < len(b) {
		op := b[p]
		p++
		var err error
		switch op {
		case '.': // STOP
			return nil
		case '(', '0', '1', '2', 'N', 0x88, 0x89, ']', 'a', 'e', 'l', ')', 't', 0x85, 0x86, 0x87, '}', 'd', 's', 'u',
			'b', 'R', 0x81, 0x92, 'o', 0x93, 0x94, 0x8f, 0x90, 0x91, 'Q', 0x97, 0x98:
			// no argument
		case 0x80, 'K', 'h', 'q', 0x82: // PROTO, BININT1, BINGET, BINPUT, EXT1
			err = need(1, "argument")
		case 'M', 0x83: // BININT2, EXT2
			err = need(2, "argument")
		case 'J', 'j', 'r', 0x84: // BININT, LONG_BINGET, LONG_BINPUT, EXT4
			err = need(4, "argument")
		case 'G': // BINFLOAT
			err = need(8, "float")
		case 0x8a, 'U', 'C', 0x8c: // LONG1, SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
			err = length(1, "string")
		case 'T', 'B', 'X', 0x8b: // BINSTRING, BINBYTES, BINUNICODE, LONG4
			err = length(4, "string")
		case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
			err = length(8, "string")
		case 0x95: // FRAME: its bytes are the opcodes that follow
			if err = need(8, "frame length"); err == nil {
				if n := binary.LittleEndian.Uint64(b[p-8:]); n > uint64(len(b)-p) {
					err = fmt.Errorf("is truncated (a pickle frame of %d bytes at byte %d, %d bytes left): %w", n, p, len(b)-p, io.ErrUnexpectedEOF)
				}
			}
		case 'I', 'L', 'S', 'V', 'F', 'g', 'p', 'P': // text arguments, one line
			err = line("argument")
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line("module name"); err == nil {
				err = line("class name")
			}
		default:
			return nil
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("is truncated (its pickle has no STOP): %w", io.ErrUnexpectedEOF)
}
