export { describeBoard } from './describe-board.ts';
