//go:build !unix

package sqlite

import "os"

// NOTE: without device and inode numbers, a Store does not notice that its
// file was deleted or replaced while open.
func fileIDOf(os.FileInfo) (fileID, error) {
	return fileID{}, errFileIDUnknown
}
