// hwgen library module: writes an AXI4-Stream (always ready) into a buffer of NB banks of W bits at the addresses
// of a hwgen_lt_agen. Of every token's P beats only those in [LO, HI) are this writer's (a stream split: the
// others belong to another writer). SEL = 1: a beat fills bank `bank` (ZFILL: the token's last beat also zeroes
// the word's higher banks, the padding of a packed layout); SEL = 0: a beat fills the whole word.
`timescale 1ns/1ps
module hwgen_lt_wrpipe #(
    parameter NB = 1, W = 8, SEL = 0, ZFILL = 0, P = 1, LO = 0, HI = 1, JW = 1, IW = 8, PW = 1
) (
    input  wire clk,
    input  wire rst,
    input  wire start,
    input  wire [IW-1:0] s_tdata,
    input  wire s_tvalid,
    // generator
    input  wire [JW-1:0] gen_bank,
    input  wire gen_last_tok,
    output wire gen_step,
    output wire in_range,
    // buffer write port
    output wire [NB-1:0] we,
    output wire [NB*W-1:0] wdata
);
    reg [PW-1:0] w;
    assign in_range = (w >= LO) && (w < HI);
    assign gen_step = s_tvalid && in_range;
    always @(posedge clk) begin
        if (rst || start) w <= 0;
        else if (s_tvalid) w <= (w == P - 1) ? 0 : w + 1'b1;
    end
    genvar j;
    generate
        if (SEL) begin : g_narrow
            for (j = 0; j < NB; j = j + 1) begin : g_bank
                wire mine = (gen_bank == j);
                wire pad = ZFILL && gen_last_tok && (j > gen_bank);
                assign we[j] = gen_step && (mine || pad);
                assign wdata[j*W +: W] = mine ? s_tdata[W-1:0] : {W{1'b0}};
            end
        end else begin : g_wide
            assign we = {NB{gen_step}};
            assign wdata = s_tdata[NB*W-1:0];
        end
    endgenerate
endmodule
