// hwgen library: sequencer of the weight-streaming TLMM (tlmm_stream.py). Per call:
//   ST_X      take the call's activations into the activation buffer (x's tlast, or M_MAX tokens, ends the call)
//   ST_XR     one cycle: the activation buffer's read register takes x[0, 0]
//   per chunk c, per token t:  ST_BUILD (BUILD_STEPS cycles) -> [ST_WAITW until the chunk's weights are all in
//             the chunk buffer] -> ST_LOOK (NBLOCKS cycles); after the last chunk's last token: ST_X.
// Everything but the activation intake advances only on `en`, the global pipeline enable.
`timescale 1ns/1ps
module hwgen_ws_ctrl #(
    parameter CHUNKS = 1,
    parameter NBLOCKS = 1,
    parameter BUILD_STEPS = 1,
    parameter M_MAX = 1,
    parameter CW = 1,              // chunk counter bits
    parameter NW = 1,              // column-block counter bits
    parameter TW = 1,              // token counter bits
    parameter SW = 1,              // build-step counter bits
    parameter XAW = 1,             // activation-buffer address bits (M_MAX * CHUNKS chunk words)
    parameter AAW = 1              // accumulator address bits (M_MAX * NBLOCKS per lane)
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           en,
    input  wire           x_fire,
    input  wire           x_tlast,
    input  wire           w_ready,      // the chunk in use is complete in the chunk buffer
    output wire           x_ready,
    output reg  [XAW-1:0] x_waddr,
    output reg  [XAW-1:0] x_raddr,      // x[t, c] at t * CHUNKS + c
    output wire           building,
    output wire           looking,
    output reg  [SW-1:0]  step,
    output reg  [NW-1:0]  nb,
    output reg  [AAW-1:0] acc_addr,     // t * NBLOCKS + nb
    output wire           first_chunk,
    output wire           last_chunk,
    output wire           last_nb,
    output wire           last_tok,
    output wire           retire        // the chunk's last lookup: its chunk-buffer half is free after this cycle
);
    localparam ST_X = 3'd0, ST_XR = 3'd1, ST_BUILD = 3'd2, ST_WAITW = 3'd3, ST_LOOK = 3'd4;
    localparam LAST_STEP = BUILD_STEPS - 1;
    localparam LAST_CHUNK = CHUNKS - 1;
    localparam LAST_NB = NBLOCKS - 1;
    localparam LAST_TOK = M_MAX - 1;

    reg [2:0] state;
    reg [CW-1:0] chunk, cin;
    reg [TW-1:0] tok, tin, mlast;
    assign x_ready = (state == ST_X);
    assign building = (state == ST_BUILD);
    assign looking = (state == ST_LOOK);
    assign last_nb = (nb == LAST_NB);
    assign last_tok = (tok == mlast);
    assign first_chunk = (chunk == 0);
    assign last_chunk = (chunk == LAST_CHUNK);
    assign retire = en && looking && last_nb && last_tok;
    wire x_end = x_fire && cin == LAST_CHUNK && (x_tlast || tin == LAST_TOK);

    always @(posedge clk) begin
        if (rst) begin
            state <= ST_X;
            chunk <= 0;
            cin <= 0;
            tok <= 0;
            tin <= 0;
            mlast <= 0;
            nb <= 0;
            step <= 0;
            acc_addr <= 0;
            x_waddr <= 0;
            x_raddr <= 0;
        end else begin
            if (x_fire) begin      // only in ST_X
                if (x_end) begin
                    x_waddr <= 0;
                    cin <= 0;
                    tin <= 0;
                    mlast <= tin;
                    state <= ST_XR;
                end else begin
                    x_waddr <= x_waddr + 1'b1;
                    if (cin == LAST_CHUNK) begin
                        cin <= 0;
                        tin <= tin + 1'b1;
                    end else begin
                        cin <= cin + 1'b1;
                    end
                end
            end
            if (en) begin
                case (state)
                    ST_XR: state <= ST_BUILD;
                    ST_BUILD: begin
                        if (step == LAST_STEP) begin
                            step <= 0;
                            // the next build's activations: the next token's, or the next chunk's first token
                            if (last_tok) x_raddr <= last_chunk ? 0 : chunk + 1'b1;
                            else x_raddr <= x_raddr + CHUNKS;
                            state <= w_ready ? ST_LOOK : ST_WAITW;
                        end else begin
                            step <= step + 1'b1;
                        end
                    end
                    ST_WAITW: if (w_ready) state <= ST_LOOK;
                    ST_LOOK: begin
                        if (last_nb) begin
                            nb <= 0;
                            if (last_tok) begin
                                tok <= 0;
                                acc_addr <= 0;
                                if (last_chunk) begin
                                    chunk <= 0;
                                    state <= ST_X;
                                end else begin
                                    chunk <= chunk + 1'b1;
                                    state <= ST_BUILD;
                                end
                            end else begin
                                tok <= tok + 1'b1;
                                acc_addr <= acc_addr + 1'b1;
                                state <= ST_BUILD;
                            end
                        end else begin
                            nb <= nb + 1'b1;
                            acc_addr <= acc_addr + 1'b1;
                        end
                    end
                    default: ;
                endcase
            end
        end
    end
endmodule
