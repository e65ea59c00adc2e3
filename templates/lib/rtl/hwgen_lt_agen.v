// hwgen library module: address generator of the single layer top's tensor buffers (one sequence per call).
// A buffer holds a call's tokens as words of NB banks; `step` advances to the next beat's address.
// MODE 0 (token major): per token C beats; beat c -> bank j, address TBASE(t) + OFF + HOFF + b, with b cycling
//   over BH beats, then j over JN banks, then HOFF += BH (JN = 1: every beat addresses all banks at once).
// MODE 1 (attention query/output order): per head group g, per block (token t; REV: t from M-1 down to 0),
//   B beats: address t*TSTRIDE + g*GSTRIDE + b.
// MODE 2 (attention key/value order): as MODE 1, and per block the keys 0..sweep-1 (REV: sweep = t+1, else M),
//   B beats each: address key*TSTRIDE + g*GSTRIDE + b.
// `last_tok`: the beat ends a token (MODE 0); `last`: the call's final beat; `done`: the sequence has ended.
`timescale 1ns/1ps
module hwgen_lt_agen #(
    parameter MODE = 0, C = 1, BH = 1, JN = 1, TSTRIDE = 1, OFF = 0,
    parameter G = 1, B = 1, GSTRIDE = 1, REV = 0,
    parameter AW = 1, TW = 1, JW = 1, CW = 1
) (
    input  wire clk,
    input  wire rst,
    input  wire start,
    input  wire [TW-1:0] m_tokens,
    input  wire step,
    output wire valid,
    output wire [AW-1:0] addr,
    output wire [JW-1:0] bank,
    output wire last_tok,
    output wire last,
    output reg  done
);
    reg active;
    reg [CW-1:0] c, b;
    reg [JW-1:0] j;
    reg [AW-1:0] hoff, tbase, gbase, kbase;
    reg [TW-1:0] t, blk, key, g;
    wire [TW-1:0] m1 = m_tokens - 1'b1;
    assign valid = active;
    assign bank = j;
    wire b_end = (b == ((MODE == 0) ? BH - 1 : B - 1));
    wire tok_end = (MODE == 0) ? (c == C - 1) : b_end;            // MODE 1: a block's B beats
    wire key_end = (MODE == 2) ? (key == (REV ? t : m1)) : 1'b1;
    wire blk_end = (MODE == 0) ? tok_end : (tok_end && key_end);
    wire g_end = (blk == m1);
    assign last_tok = tok_end;
    assign last = (MODE == 0) ? (tok_end && t == m1) : (blk_end && g_end && g == G - 1);
    assign addr = (MODE == 0) ? tbase + OFF + hoff + b : ((MODE == 2) ? kbase : tbase) + gbase + b;
    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            done <= 1'b0;
        end else if (start) begin
            active <= 1'b1;
            done <= 1'b0;
            c <= 0; b <= 0; j <= 0; hoff <= 0; key <= 0; kbase <= 0; g <= 0; gbase <= 0; blk <= 0;
            t <= (MODE != 0 && REV) ? m1 : 0;
            tbase <= (MODE != 0 && REV) ? m1 * TSTRIDE : 0;
        end else if (active && step) begin
            if (last) begin
                active <= 1'b0;
                done <= 1'b1;
            end
            if (MODE == 0) begin
                if (tok_end) begin
                    c <= 0; b <= 0; j <= 0; hoff <= 0;
                    t <= t + 1'b1;
                    tbase <= tbase + TSTRIDE;
                end else begin
                    c <= c + 1'b1;
                    if (b_end) begin
                        b <= 0;
                        if (j == JN - 1) begin
                            j <= 0;
                            hoff <= hoff + BH;
                        end else j <= j + 1'b1;
                    end else b <= b + 1'b1;
                end
            end else begin
                b <= b_end ? 0 : b + 1'b1;
                if (b_end && MODE == 2) begin
                    key <= key_end ? 0 : key + 1'b1;
                    kbase <= key_end ? 0 : kbase + TSTRIDE;
                end
                if (blk_end) begin
                    // next block: the next token in block order; after the last block, the next group
                    if (g_end) begin
                        blk <= 0;
                        g <= g + 1'b1;
                        gbase <= gbase + GSTRIDE;
                        t <= REV ? m1 : 0;
                        tbase <= REV ? m1 * TSTRIDE : 0;
                    end else begin
                        blk <= blk + 1'b1;
                        t <= REV ? t - 1'b1 : t + 1'b1;
                        tbase <= REV ? tbase - TSTRIDE : tbase + TSTRIDE;
                    end
                end
            end
        end
    end
endmodule
