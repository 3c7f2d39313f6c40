package main

import (
	"errors"
	"io"
)

func benchInfer(args []string, stdout, stderr io.Writer) error {
	return errors.New("cen bench infer is not built yet")
}
