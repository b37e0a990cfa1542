//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

func fileIDOf(info os.FileInfo) (fileID, error) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errFileIDUnknown
	}
	return fileID{device: uint64(st.Dev), inode: uint64(st.Ino)}, nil
}
