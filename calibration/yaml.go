package calibration

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
)

// yamlMatrix is a matrix as camera_calibration_parsers writes it.
type yamlMatrix struct {
	Rows *int      `yaml:"rows"`
	Cols *int      `yaml:"cols"`
	Data []float64 `yaml:"data"`
}

type yamlCamera struct {
	ImageWidth       int         `yaml:"image_width"`
	ImageHeight      int         `yaml:"image_height"`
	CameraName       string      `yaml:"camera_name"`
	CameraMatrix     *yamlMatrix `yaml:"camera_matrix"`
	DistortionModel  string      `yaml:"distortion_model"`
	Distortion       *yamlMatrix `yaml:"distortion_coefficients"`
	Rectification    *yamlMatrix `yaml:"rectification_matrix"`
	ProjectionMatrix *yamlMatrix `yaml:"projection_matrix"`
}

// LoadYAML reads a camera calibration file in the camera_calibration_parsers
// YAML format (as written by the camera_calibration package and read by
// camera_info_manager).
func LoadYAML(path string) (Pinhole, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Pinhole{}, fmt.Errorf("calibration: %w", err)
	}
	c, err := ParseYAML(bytes.NewReader(data))
	if err != nil {
		return Pinhole{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseYAML parses a calibration in the camera_calibration_parsers YAML format.
// camera_matrix is required; a missing rectification_matrix is the identity
// and a missing projection_matrix is [K | 0].
func ParseYAML(r io.Reader) (Pinhole, error) {
	var y yamlCamera
	dec := yaml.NewDecoder(r)
	if err := dec.Decode(&y); err != nil {
		return Pinhole{}, fmt.Errorf("calibration: bad calibration YAML: %w", err)
	}
	c := Pinhole{Name: y.CameraName, Width: y.ImageWidth, Height: y.ImageHeight, Model: y.DistortionModel, R: identity3()}
	if y.CameraMatrix == nil {
		return Pinhole{}, fmt.Errorf("calibration: camera_matrix is missing")
	}
	if err := y.CameraMatrix.fill("camera_matrix", 3, 3, c.K[:]); err != nil {
		return Pinhole{}, err
	}
	if y.Distortion != nil {
		n := len(y.Distortion.Data)
		if err := y.Distortion.check("distortion_coefficients", 1, n); err != nil {
			return Pinhole{}, err
		}
		c.D = append([]float64(nil), y.Distortion.Data...)
	}
	if y.Rectification != nil {
		if err := y.Rectification.fill("rectification_matrix", 3, 3, c.R[:]); err != nil {
			return Pinhole{}, err
		}
	}
	if y.ProjectionMatrix != nil {
		if err := y.ProjectionMatrix.fill("projection_matrix", 3, 4, c.P[:]); err != nil {
			return Pinhole{}, err
		}
	} else {
		for i := 0; i < 3; i++ {
			copy(c.P[4*i:4*i+3], c.K[3*i:3*i+3])
		}
	}
	if err := c.Validate(); err != nil {
		return Pinhole{}, err
	}
	return c, nil
}

func (m *yamlMatrix) check(name string, rows, cols int) error {
	if m.Rows != nil && m.Cols != nil && *m.Rows**m.Cols != len(m.Data) {
		return fmt.Errorf("calibration: %s says %dx%d but has %d values", name, *m.Rows, *m.Cols, len(m.Data))
	}
	if m.Rows != nil && *m.Rows != rows || m.Cols != nil && *m.Cols != cols {
		return fmt.Errorf("calibration: %s must be %dx%d, got %dx%d", name, rows, cols, deref(m.Rows), deref(m.Cols))
	}
	if len(m.Data) != rows*cols {
		return fmt.Errorf("calibration: %s must have %d values, got %d", name, rows*cols, len(m.Data))
	}
	return nil
}

func (m *yamlMatrix) fill(name string, rows, cols int, dst []float64) error {
	if err := m.check(name, rows, cols); err != nil {
		return err
	}
	copy(dst, m.Data)
	return nil
}

func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// MarshalYAML writes c in the camera_calibration_parsers YAML format.
func (c Pinhole) MarshalYAML() (interface{}, error) {
	i := func(v int) *int { return &v }
	return yamlCamera{
		ImageWidth: c.Width, ImageHeight: c.Height, CameraName: c.Name,
		CameraMatrix:     &yamlMatrix{Rows: i(3), Cols: i(3), Data: c.K[:]},
		DistortionModel:  c.Model,
		Distortion:       &yamlMatrix{Rows: i(1), Cols: i(len(c.D)), Data: append([]float64{}, c.D...)},
		Rectification:    &yamlMatrix{Rows: i(3), Cols: i(3), Data: c.R[:]},
		ProjectionMatrix: &yamlMatrix{Rows: i(3), Cols: i(4), Data: c.P[:]},
	}, nil
}
