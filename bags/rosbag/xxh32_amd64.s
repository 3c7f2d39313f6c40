//go:build !purego

#include "textflag.h"

// The lane rounds of xxHash32 (xxh32.go's xxRound) in vector registers: v = rotl(v + lane*prime2, 13)
// * prime1 for the four lanes at once. Go has no vector rotate for AVX2, so rotl is a shift each way and
// an or.

// The xxHash32 primes 1 and 2, four lanes each (see xxh32.go).
DATA xxPrimes<>+0(SB)/4, $2654435761
DATA xxPrimes<>+4(SB)/4, $2654435761
DATA xxPrimes<>+8(SB)/4, $2654435761
DATA xxPrimes<>+12(SB)/4, $2654435761
DATA xxPrimes<>+16(SB)/4, $2246822519
DATA xxPrimes<>+20(SB)/4, $2246822519
DATA xxPrimes<>+24(SB)/4, $2246822519
DATA xxPrimes<>+28(SB)/4, $2246822519
GLOBL xxPrimes<>(SB), RODATA|NOPTR, $32

// func xxStripesAVX(v *[4]uint32, p *byte, n int): one hash, its four lanes in X0.
TEXT ·xxStripesAVX(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), AX
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	TESTQ CX, CX
	JZ   done
	VMOVDQU (AX), X0
	VMOVDQU xxPrimes<>+0(SB), X1
	VMOVDQU xxPrimes<>+16(SB), X2

loop:
	VPMULLD (SI), X2, X3
	VPADDD  X3, X0, X0
	VPSLLD  $13, X0, X4
	VPSRLD  $19, X0, X0
	VPOR    X4, X0, X0
	VPMULLD X1, X0, X0
	ADDQ    $16, SI
	DECQ    CX
	JNZ     loop
	VMOVDQU X0, (AX)

done:
	RET

// func xxStripes2AVX2(v *[8]uint32, a, b *byte, n int): two hashes, a's lanes in the low half of Y0
// and b's in the high half.
TEXT ·xxStripes2AVX2(SB), NOSPLIT, $0-32
	MOVQ v+0(FP), AX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ n+24(FP), CX
	TESTQ CX, CX
	JZ   done2
	VMOVDQU (AX), Y0
	VBROADCASTI128 xxPrimes<>+0(SB), Y1
	VBROADCASTI128 xxPrimes<>+16(SB), Y2

loop2:
	VMOVDQU     (SI), X3
	VINSERTI128 $1, (DI), Y3, Y3
	VPMULLD     Y2, Y3, Y3
	VPADDD      Y3, Y0, Y0
	VPSLLD      $13, Y0, Y4
	VPSRLD      $19, Y0, Y0
	VPOR        Y4, Y0, Y0
	VPMULLD     Y1, Y0, Y0
	ADDQ        $16, SI
	ADDQ        $16, DI
	DECQ        CX
	JNZ         loop2
	VMOVDQU     Y0, (AX)
	VZEROUPPER

done2:
	RET
