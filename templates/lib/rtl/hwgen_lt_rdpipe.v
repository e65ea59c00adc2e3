// hwgen library module: turns an address sequence (hwgen_lt_agen) into an AXI4-Stream read from a buffer with a
// one-cycle synchronous read port. A read is issued while the 4-entry output FIFO has room for it (entries +
// read in flight <= 2), so a ready consumer gets one beat per cycle; the first beat is valid 3 cycles after the
// generator's start (start -> address, address -> RAM register, RAM register -> FIFO head).
// SEL = 1: the beat is bank `bank` of the read word (NB banks of W bits); SEL = 0: the whole word.
`timescale 1ns/1ps
module hwgen_lt_rdpipe #(
    parameter NB = 1, W = 8, SEL = 0, JW = 1, OW = 8
) (
    input  wire clk,
    input  wire rst,
    input  wire start,
    // generator
    input  wire gen_valid,
    input  wire [JW-1:0] gen_bank,
    input  wire gen_last,
    output wire gen_step,
    // buffer read port
    output wire re,
    input  wire [NB*W-1:0] rdata,
    // stream
    output wire [OW-1:0] m_tdata,
    output wire m_tvalid,
    input  wire m_tready,
    output wire m_tlast
);
    reg [OW:0] fifo [0:3];
    reg [1:0] rp, wp;
    reg [2:0] cnt;
    reg inflight, fl_last;
    reg [JW-1:0] fl_bank;
    assign gen_step = gen_valid && (cnt + inflight <= 2);
    assign re = gen_step;
    wire [OW-1:0] word = SEL ? rdata[fl_bank * W +: W] : rdata[OW-1:0];
    assign m_tvalid = (cnt != 0);
    assign m_tdata = fifo[rp][OW-1:0];
    assign m_tlast = fifo[rp][OW];
    wire pop = m_tvalid && m_tready;
    always @(posedge clk) begin
        if (rst || start) begin
            rp <= 0; wp <= 0; cnt <= 0; inflight <= 1'b0;
        end else begin
            inflight <= gen_step;
            fl_bank <= gen_bank;
            fl_last <= gen_last;
            if (inflight) begin
                fifo[wp] <= {fl_last, word};
                wp <= wp + 1'b1;
            end
            if (pop) rp <= rp + 1'b1;
            cnt <= cnt + inflight - pop;
        end
    end
endmodule
