package media

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config locates a bucket of any S3-compatible service (AWS S3, MinIO,
// Cloudflare R2, Google Cloud Storage's XML API…).
type S3Config struct {
	Endpoint        string // host[:port], e.g. s3.eu-central-1.amazonaws.com
	Region          string
	Bucket          string
	Prefix          string // put before every name, e.g. "usergraph/"
	AccessKeyID     string
	SecretAccessKey string
	Insecure        bool // plain HTTP (a local MinIO), not HTTPS
}

// S3 is a Store in an S3 bucket, shared by every replica.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// NewS3 returns the store of cfg; it checks that the bucket exists.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, errors.New("S3: " + err.Error())
	}
	if !ok {
		return nil, errors.New("S3: bucket " + cfg.Bucket + " does not exist")
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Put uploads r under name with its content type.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	if !validName.MatchString(name) {
		return errBadName
	}
	size := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		size = int64(l.Len())
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+name, r, size, minio.PutObjectOptions{
		ContentType: contentTypes[path.Ext(name)], CacheControl: "public, max-age=31536000, immutable",
	})
	return err
}

// Delete removes name; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, name string) error {
	if !validName.MatchString(name) {
		return errBadName
	}
	return s.client.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{})
}

// Open returns name for serving (read and seek through ranged GETs).
func (s *S3) Open(name string) (fs.File, error) {
	if !validName.MatchString(name) {
		return nil, fs.ErrNotExist
	}
	obj, err := s.client.GetObject(context.Background(), s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	return s3File{Object: obj, info: s3Info{name: path.Base(name), info: info}}, nil
}

type s3File struct {
	*minio.Object
	info s3Info
}

func (f s3File) Stat() (fs.FileInfo, error) { return f.info, nil }

type s3Info struct {
	name string
	info minio.ObjectInfo
}

func (i s3Info) Name() string       { return i.name }
func (i s3Info) Size() int64        { return i.info.Size }
func (i s3Info) Mode() fs.FileMode  { return 0o444 }
func (i s3Info) ModTime() time.Time { return i.info.LastModified }
func (i s3Info) IsDir() bool        { return false }
func (i s3Info) Sys() any           { return nil }
