export { describeBoard } from './describe-board.ts';
export {
  BoardIdentityError,
  type ListPorts,
  type PortListing,
  resolveBoardPort,
} from './identify-port.ts';
