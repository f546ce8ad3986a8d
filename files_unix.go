//go:build unix

package main

import "syscall"

// privateFiles makes every file the process creates readable by its owner
// only (0600, folders 0700): the database, keys, emails and avatars.
func privateFiles() { syscall.Umask(0o077) }
