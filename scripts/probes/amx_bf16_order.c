/*
 * Does AMX's TDPBF16PS compute bffn's documented bf16 arithmetic (formats/numerics.md, "bf16")? Multiplies 2 000
 * random 16 x 16 x 32 tiles (bf16 values over a wide exponent range, some zeros and denormals; the accumulators
 * starting at zero or at random values) and counts the outputs that differ in their float32 bits from six candidate
 * orders per output: pairs even-first or odd-first with a rounding after each product (denormals flushed), a pair's
 * two products summed first, a pair fused (one rounding), one exact sum of everything, even-first without flushing.
 * On an Emerald Rapids Xeon (2026-11) every candidate differed on 43-48 % of the outputs, so bffn does not use AMX.
 * Build and run where the CPU has AMX (Linux 5.16+):
 *   clang -O2 -mamx-tile -mamx-bf16 -mavx512f scripts/probes/amx_bf16_order.c -o amx_bf16_order && ./amx_bf16_order
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <math.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
typedef struct { uint8_t palette, start; uint8_t res[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed)) cfg_t;
static float widen(uint16_t h){uint32_t u=(uint32_t)h<<16; if((u&0x7f800000u)==0) u&=0x80000000u; float f; memcpy(&f,&u,4); return f;}
static float flush(float f){uint32_t u; memcpy(&u,&f,4); if((u&0x7f800000u)==0) u&=0x80000000u; memcpy(&f,&u,4); return f;}
static uint64_t s=88172645463325252ull; static uint64_t rnd(){s^=s<<13;s^=s>>7;s^=s<<17;return s;}
static uint16_t rbf(){ // random bf16 with varied exponents, some denormals and zeros
  uint64_t r=rnd(); int e=(int)(r%40)+107; if(r%97==0) e=0; uint16_t m=(r>>8)&0x7f; uint16_t sg=(r>>20)&1; return (uint16_t)(sg<<15|e<<7|m);}
int main(){
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) { printf("no AMX permission\n"); return 1; }
  cfg_t c; memset(&c,0,sizeof c); c.palette=1; for(int t=0;t<3;t++){c.colsb[t]=64;c.rows[t]=16;}
  _tile_loadconfig(&c);
  long mism[6]={0}; long total=0;
  for(int trial=0;trial<2000;trial++){
    uint16_t A[16][32], B[16][32]; float C[16][16], R[16][16];
    for(int i=0;i<16;i++) for(int j=0;j<32;j++){A[i][j]=rbf(); B[i][j]=rbf();}
    for(int i=0;i<16;i++) for(int j=0;j<16;j++){ uint16_t h=rbf(); C[i][j]= (trial%3==0)?0.0f:widen(h)*64.0f; }
    _tile_loadd(0,C,64); _tile_loadd(1,A,64); _tile_loadd(2,B,64);
    _tile_dpbf16ps(0,1,2);
    _tile_stored(0,R,64);
    for(int m=0;m<16;m++) for(int n=0;n<16;n++){
      float e0=C[m][n], e1=C[m][n], e2=C[m][n], e3=C[m][n]; double ex=C[m][n]; float e5=C[m][n];
      for(int k=0;k<16;k++){
        float p0=widen(A[m][2*k])*widen(B[k][2*n]), p1=widen(A[m][2*k+1])*widen(B[k][2*n+1]);
        e0=flush(e0+p0); e0=flush(e0+p1);           // even first, rounded each step
        e1=flush(e1+p1); e1=flush(e1+p0);           // odd first
        e2=flush(e2+flush(p0+p1));                  // pair summed first
        e3=flush((float)((double)e3+(double)p0+(double)p1)); // pair fused, one rounding
        ex+= (double)p0+(double)p1;
        e5=e5+p0; e5=e5+p1;                         // even first, no flush
      }
      float ee[6]={e0,e1,e2,e3,(float)ex,e5};
      for(int h=0;h<6;h++){uint32_t a,b; memcpy(&a,&ee[h],4); memcpy(&b,&R[m][n],4); if(a!=b) mism[h]++;}
      total++;
    }
  }
  _tile_release();
  const char*names[6]={"even-first rounded","odd-first rounded","pair sum first","pair fused","exact sum once","even-first no flush"};
  for(int h=0;h<6;h++) printf("%-22s %ld of %ld differ\n",names[h],mism[h],total);
  return 0;
}
