// hwgen library: the weight-streaming TLMM's chunk buffer. LANES banks of 2*NBLOCKS words: two halves, each
// holding one chunk's words (column block nb of the chunk at half*NBLOCKS + nb). The writer takes s_axis_w beats
// of BEAT_WORDS words (lanes g*BEAT_WORDS.. of one column block; column block major, lane group minor) into the
// free half and marks it full after its last beat; `retire` (the chunk's last lookup) frees the half in use.
`timescale 1ns/1ps
module hwgen_ws_chunk_buf #(
    parameter LANES = 1,
    parameter BEAT_WORDS = 1,         // words per beat (divides LANES)
    parameter WORD_BITS = 1,
    parameter NBLOCKS = 1,
    parameter NW = 1,                 // column-block index bits
    parameter AW = 1,                 // bank address bits (2 * NBLOCKS words)
    parameter GW = 1,                 // lane-group counter bits
    parameter RAM_STYLE = "block"
) (
    input  wire                            clk,
    input  wire                            rst,
    input  wire [BEAT_WORDS*WORD_BITS-1:0] w_tdata,
    input  wire                            w_tvalid,
    output wire                            w_tready,
    input  wire                            retire,     // the half in use is read for the last time this cycle
    output wire                            rd_full,     // the half in use holds its whole chunk
    input  wire                            en,
    input  wire [NW-1:0]                   nb,
    output wire [LANES*WORD_BITS-1:0]      rdata        // registered read, lane q at q*WORD_BITS
);
    localparam GROUPS = LANES / BEAT_WORDS;
    localparam LAST_GROUP = GROUPS - 1;
    localparam LAST_ADDR = 2 * NBLOCKS - 1;
    localparam HALF_LAST = NBLOCKS - 1;

    reg [AW-1:0] waddr;
    reg [GW-1:0] grp;
    reg w_half, r_half;
    reg [1:0] full;
    assign w_tready = !full[w_half];
    wire fire = w_tvalid && w_tready;
    wire last_of_block = fire && grp == LAST_GROUP;
    wire chunk_done = last_of_block && (waddr == HALF_LAST || waddr == LAST_ADDR);
    assign rd_full = full[r_half];

    always @(posedge clk) begin
        if (rst) begin
            waddr <= 0;
            grp <= 0;
            w_half <= 1'b0;
            r_half <= 1'b0;
            full <= 2'b00;
        end else begin
            if (fire) begin
                if (grp == LAST_GROUP) begin
                    grp <= 0;
                    waddr <= (waddr == LAST_ADDR) ? 0 : waddr + 1'b1;
                end else begin
                    grp <= grp + 1'b1;
                end
            end
            if (chunk_done) begin
                full[w_half] <= 1'b1;
                w_half <= ~w_half;
            end
            if (retire) begin       // never the half being filled: that one is not full
                full[r_half] <= 1'b0;
                r_half <= ~r_half;
            end
        end
    end

    wire [AW-1:0] raddr = (r_half ? NBLOCKS : 0) + nb;
    genvar q;
    generate
        for (q = 0; q < LANES; q = q + 1) begin : g_bank
            hwgen_sdp_ram #(.WIDTH(WORD_BITS), .DEPTH(2 * NBLOCKS), .AW(AW), .RAM_STYLE(RAM_STYLE))
                u_mem (.clk(clk), .we(fire && grp == q / BEAT_WORDS), .waddr(waddr),
                       .wdata(w_tdata[(q % BEAT_WORDS) * WORD_BITS +: WORD_BITS]), .re(en), .raddr(raddr),
                       .rdata(rdata[q * WORD_BITS +: WORD_BITS]));
        end
    endgenerate
endmodule
